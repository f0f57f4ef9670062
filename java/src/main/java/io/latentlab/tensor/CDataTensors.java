package io.latentlab.tensor;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.c.jni.JniWrapper;
import org.apache.arrow.c.jni.PrivateData;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.ForeignAllocation;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * Tensors through the Arrow C Data Interface, written and read field by field.
 *
 * <p>A tensor is a non-null fixed-size list array {@code +w:N} of one primitive child, with the
 * {@code arrow.fixed_shape_tensor} extension metadata on the parent. Arrow Java's
 * {@code Data.exportVector}/{@code importVector} go through value vectors, which cost time in
 * proportion to the tensor: export counts the nulls of every value (a scan of the validity
 * bitmap), import allocates and fills a validity bitmap that the producer did not send. Neither
 * is needed for a tensor, which has no nulls by construction, so the structs are filled and read
 * here directly: the cost of a handoff no longer depends on its size.
 *
 * <p>Release callbacks are Arrow Java's own (its JNI library's {@code exportArray}/{@code
 * exportSchema}): when the consumer releases an export, the {@link PrivateData} here closes
 * what the export holds. An import is released through the producer's callback when the
 * tensor's memory is closed.
 */
final class CDataTensors {
  /** sizeof(struct ArrowSchema) and sizeof(struct ArrowArray) on 64-bit platforms. */
  private static final int SCHEMA_SIZE = 72;
  private static final int ARRAY_SIZE = 80;

  /** What a child struct holds: nothing; its parent's private data frees its memory. */
  private static final PrivateData NOTHING = () -> { };

  private CDataTensors() {}

  // ---------------------------------------------------------------- export (Java → consumer)

  /**
   * Fills the two structs with {@code tensor}'s memory, no copy. The export holds a reference
   * to the memory until the consumer releases it.
   */
  static void export(BufferAllocator allocator, ArrowBuf data, long bytes, DType dtype,
      long[] shape, long arrayAddress, long schemaAddress) {
    long rows = shape[0];
    long perItem = bytes / dtype.bytes() / Math.max(rows, 1);
    long[] itemShape = Arrays.copyOfRange(shape, 1, shape.length);
    exportSchema(allocator, schemaAddress, dtype, itemShape, perItem);
    try {
      exportArray(allocator, arrayAddress, data, rows, rows * perItem);
    } catch (RuntimeException e) {
      ArrowSchema.wrap(schemaAddress).release();
      throw e;
    }
  }

  private static void exportSchema(BufferAllocator allocator, long address, DType dtype,
      long[] itemShape, long perItem) {
    byte[] format = cString("+w:" + perItem);
    byte[] name = cString("tensor");
    byte[] childFormat = cString(dtype.cDataFormat());
    byte[] childName = cString("item");
    Map<String, String> metadata = new LinkedHashMap<>();
    metadata.put(TensorMetadata.EXTENSION_NAME_KEY, TensorMetadata.extensionFor(dtype));
    metadata.put(TensorMetadata.EXTENSION_METADATA_KEY, TensorMetadata.shapeJson(itemShape));
    byte[] encodedMetadata = encodeMetadata(metadata);

    // One block: the child struct, the children array, then the strings.
    long size = SCHEMA_SIZE + 8 + format.length + name.length + childFormat.length
        + childName.length + encodedMetadata.length;
    ArrowBuf block = allocator.buffer(size);
    try {
      long child = block.memoryAddress();
      long children = child + SCHEMA_SIZE;
      long next = children + 8;
      long formatAt = next;
      next = put(next, format);
      long nameAt = next;
      next = put(next, name);
      long childFormatAt = next;
      next = put(next, childFormat);
      long childNameAt = next;
      next = put(next, childName);
      long metadataAt = next;
      put(next, encodedMetadata);

      writeSchema(child, childFormatAt, childNameAt, 0, 0, 0);
      MemoryUtil.putLong(children, child);
      writeSchema(address, formatAt, nameAt, metadataAt, 1, children);
      JniWrapper.get().exportSchema(child, NOTHING);
    } catch (RuntimeException e) {
      block.close();
      throw e;
    }
    JniWrapper.get().exportSchema(address, block::close);
  }

  private static void writeSchema(long at, long format, long name, long metadata,
      long nChildren, long children) {
    ArrowSchema.Snapshot snapshot = new ArrowSchema.Snapshot(); // not nullable, no dictionary
    snapshot.format = format;
    snapshot.name = name;
    snapshot.metadata = metadata;
    snapshot.n_children = nChildren;
    snapshot.children = children;
    ArrowSchema.wrap(at).save(snapshot); // release is set by exportSchema
  }

  private static void exportArray(BufferAllocator allocator, long address, ArrowBuf data,
      long rows, long values) {
    // One block: the child struct, the children array, the parent's buffers [validity],
    // the child's buffers [validity, data]. No validity buffers: there are no nulls.
    ArrowBuf block = allocator.buffer(ARRAY_SIZE + 8 + 8 + 16);
    data.getReferenceManager().retain();
    try {
      long child = block.memoryAddress();
      long children = child + ARRAY_SIZE;
      long parentBuffers = children + 8;
      long childBuffers = parentBuffers + 8;
      MemoryUtil.putLong(parentBuffers, 0);
      MemoryUtil.putLong(childBuffers, 0);
      MemoryUtil.putLong(childBuffers + 8, data.memoryAddress());
      writeArray(child, values, 2, childBuffers, 0, 0);
      MemoryUtil.putLong(children, child);
      writeArray(address, rows, 1, parentBuffers, 1, children);
      JniWrapper.get().exportArray(child, NOTHING);
    } catch (RuntimeException e) {
      block.close();
      data.close();
      throw e;
    }
    JniWrapper.get().exportArray(address, () -> {
      block.close();
      data.close(); // the reference taken above
    });
  }

  private static void writeArray(long at, long length, long nBuffers, long buffers,
      long nChildren, long children) {
    ArrowArray.Snapshot snapshot = new ArrowArray.Snapshot(); // no nulls, no offset
    snapshot.length = length;
    snapshot.n_buffers = nBuffers;
    snapshot.buffers = buffers;
    snapshot.n_children = nChildren;
    snapshot.children = children;
    ArrowArray.wrap(at).save(snapshot); // release is set by exportArray
  }

  // ---------------------------------------------------------------- import (producer → Java)

  /** What a tensor schema says. */
  record TensorType(DType dtype, long[] itemShape, long perItem) {}

  /**
   * Takes the tensor exported into {@code array} and {@code schema}, no copy. The schema is
   * released here; the array is owned by the returned tensor (released when it closes) or, if
   * it is refused, released before this throws.
   *
   * @throws IllegalArgumentException if it is not a tensor LatentLab takes: not a non-null
   *     fixed-size list of float32, float16, bfloat16, int32 or uint8 tagged with its shape
   */
  static Tensor take(BufferAllocator allocator, ArrowArray array, ArrowSchema schema) {
    TensorType type;
    try {
      type = readSchema(schema.snapshot());
    } catch (RuntimeException e) {
      releaseQuietly(array);
      throw e;
    } finally {
      schema.release();
      schema.close();
    }
    ArrowBuf data;
    long rows;
    try {
      ArrowArray.Snapshot parent = array.snapshot();
      if (parent.release == 0) {
        throw new IllegalArgumentException("the tensor's array was already released");
      }
      rows = parent.length;
      checkNoNulls(parent, "rows");
      if (parent.n_children != 1) {
        throw new IllegalArgumentException("a fixed-size list array must have one child");
      }
      ArrowArray.Snapshot child = ArrowArray.wrap(MemoryUtil.getLong(parent.children)).snapshot();
      checkNoNulls(child, "values");
      if (child.n_buffers != 2) {
        throw new IllegalArgumentException("a primitive array must have two buffers");
      }
      long first = child.offset + parent.offset * type.perItem();
      long values = Math.multiplyExact(rows, type.perItem());
      if (first + values > child.offset + child.length) {
        throw new IllegalArgumentException(String.format(
            "%d rows of %d values need %d values, the array has %d",
            rows, type.perItem(), values, child.length));
      }
      long address = MemoryUtil.getLong(child.buffers + 8) + first * type.dtype().bytes();
      long bytes = values * type.dtype().bytes();
      if (address == 0 && bytes > 0) {
        throw new IllegalArgumentException("the tensor's data buffer is missing");
      }
      data = allocator.wrapForeignAllocation(new ForeignAllocation(bytes, address) {
        @Override
        protected void release0() {
          array.release();
          array.close();
        }
      });
    } catch (RuntimeException e) {
      releaseQuietly(array);
      throw e;
    }
    long[] shape = new long[type.itemShape().length + 1];
    shape[0] = rows;
    System.arraycopy(type.itemShape(), 0, shape, 1, type.itemShape().length);
    return new Tensor(data, type.dtype(), shape);
  }

  private static void releaseQuietly(ArrowArray array) {
    array.release(); // a no-op for a struct nobody exported into
    array.close();
  }

  /**
   * A null count of 0, or an unknown count (-1) with no validity buffer or with every validity
   * bit set, is no nulls.
   */
  private static void checkNoNulls(ArrowArray.Snapshot array, String what) {
    long validity = array.n_buffers > 0 ? MemoryUtil.getLong(array.buffers) : 0;
    if (array.null_count == 0 || validity == 0) {
      return;
    }
    if (array.null_count > 0 || countZeroBits(validity, array.offset, array.length) > 0) {
      throw new IllegalArgumentException("a tensor must not contain nulls (" + what + ")");
    }
  }

  private static long countZeroBits(long bitmap, long offset, long length) {
    long zeros = 0;
    for (long i = offset; i < offset + length; i++) {
      if ((MemoryUtil.getByte(bitmap + (i >>> 3)) & (1 << (i & 7))) == 0) {
        zeros++;
      }
    }
    return zeros;
  }

  /** Reads and checks a tensor schema. */
  static TensorType readSchema(ArrowSchema.Snapshot schema) {
    if (schema.release == 0) {
      throw new IllegalArgumentException("the tensor's schema was already released");
    }
    String format = readCString(schema.format);
    if (!format.startsWith("+w:")) {
      throw new IllegalArgumentException(
          "expected a fixed-size list (a tensor), got Arrow format '" + format + "'");
    }
    long perItem = Long.parseLong(format.substring(3));
    if (schema.n_children != 1) {
      throw new IllegalArgumentException("a fixed-size list schema must have one child");
    }
    ArrowSchema.Snapshot child = ArrowSchema.wrap(MemoryUtil.getLong(schema.children)).snapshot();
    Map<String, String> metadata = decodeMetadata(schema.metadata);
    String extension = metadata.get(TensorMetadata.EXTENSION_NAME_KEY);
    DType dtype = DType.ofCData(readCString(child.format), extension);
    long[] itemShape = TensorMetadata.shapeOf(extension,
        metadata.get(TensorMetadata.EXTENSION_METADATA_KEY), readCString(schema.name));
    long product = Arrays.stream(itemShape).reduce(1, Math::multiplyExact);
    if (product != perItem) {
      throw new IllegalArgumentException(String.format(
          "shape %s holds %d values but each row has %d", Arrays.toString(itemShape), product, perItem));
    }
    return new TensorType(dtype, itemShape, perItem);
  }

  // ---------------------------------------------------------------- C strings and metadata

  private static byte[] cString(String text) {
    byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
    return Arrays.copyOf(utf8, utf8.length + 1);
  }

  private static long put(long address, byte[] bytes) {
    MemoryUtil.copyToMemory(bytes, 0, address, bytes.length);
    return address + bytes.length;
  }

  private static String readCString(long address) {
    if (address == 0) {
      return "";
    }
    int length = 0;
    while (MemoryUtil.getByte(address + length) != 0) {
      length++;
    }
    byte[] bytes = new byte[length];
    MemoryUtil.copyFromMemory(address, bytes, 0, length);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  /** The C Data Interface's metadata encoding: int32 count, then int32-length-prefixed pairs. */
  private static byte[] encodeMetadata(Map<String, String> metadata) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    writeInt(out, metadata.size());
    for (Map.Entry<String, String> entry : metadata.entrySet()) {
      for (String text : new String[] {entry.getKey(), entry.getValue()}) {
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        writeInt(out, utf8.length);
        out.writeBytes(utf8);
      }
    }
    return out.toByteArray();
  }

  private static void writeInt(java.io.ByteArrayOutputStream out, int value) {
    byte[] bytes = new byte[4];
    java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.nativeOrder()).putInt(value);
    out.writeBytes(bytes);
  }

  private static Map<String, String> decodeMetadata(long address) {
    Map<String, String> metadata = new LinkedHashMap<>();
    if (address == 0) {
      return metadata;
    }
    int count = MemoryUtil.getInt(address);
    long at = address + 4;
    for (int i = 0; i < count; i++) {
      String[] pair = new String[2];
      for (int j = 0; j < 2; j++) {
        int length = MemoryUtil.getInt(at);
        byte[] bytes = new byte[length];
        MemoryUtil.copyFromMemory(at + 4, bytes, 0, length);
        pair[j] = new String(bytes, StandardCharsets.UTF_8);
        at += 4 + length;
      }
      metadata.put(pair[0], pair[1]);
    }
    return metadata;
  }
}
