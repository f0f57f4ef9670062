package io.latentlab.tensor;

import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BaseFixedWidthVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.ipc.message.ArrowFieldNode;

/**
 * A batch of tensors in Arrow memory: one buffer of values, row-major, shape
 * {@code [B, d1, ..., dn]} ({@code shape()[0]} is the batch). Element types: {@link DType}. It
 * crosses to Python through the Arrow C Data Interface as a non-null fixed-size list array,
 * one row per batch item, tagged {@code arrow.fixed_shape_tensor}, and is written to files the
 * same way ({@link TensorFiles}).
 *
 * <p>A tensor imported from Python aliases the {@code jax.Array}'s memory: never write into it.
 * Closing it runs Python's release callback. Not thread-safe; close it on any thread once.
 */
public final class Tensor implements AutoCloseable {
  private final ArrowBuf data;
  private final DType dtype;
  private final long[] shape;
  private boolean closed;

  /** Takes ownership of one reference to {@code data}, which holds exactly the values. */
  Tensor(ArrowBuf data, DType dtype, long[] shape) {
    this.data = data;
    this.dtype = dtype;
    this.shape = shape;
  }

  /**
   * Receives a tensor exported through the Arrow C Data Interface, without copying.
   *
   * @param allocator accounts for the imported memory (which the exporter keeps alive until
   *     {@link #close()})
   * @param exporter fills the two C structs at the addresses it is given
   * @throws IllegalArgumentException if what arrives is not a fixed-shape tensor of a
   *     supported type, or has nulls
   */
  public static Tensor importFrom(BufferAllocator allocator, CDataExporter exporter) {
    try (TensorSlot slot = TensorSlot.allocate(allocator)) {
      exporter.exportTo(slot.arrayAddress(), slot.schemaAddress());
      return slot.take();
    }
  }

  /**
   * Copies float32 values into a new tensor.
   *
   * @param allocator where the memory comes from; use {@link Allocators#aligned()} for memory
   *     that Python can take without a copy
   * @param shape {@code [B, d1, ..., dn]}, every dimension positive
   * @param values row-major, as many as the shape holds
   * @throws IllegalArgumentException if the shape is empty, has a non-positive dimension, or
   *     does not match the number of values
   */
  public static Tensor ofFloats(BufferAllocator allocator, long[] shape, float[] values) {
    return filled(allocator, DType.FLOAT32, shape, values.length,
        buffer -> buffer.asFloatBuffer().put(values));
  }

  /**
   * A new tensor of zeros.
   *
   * @throws IllegalArgumentException for an empty shape or a non-positive dimension
   */
  public static Tensor zeros(BufferAllocator allocator, DType dtype, long[] shape) {
    long total = 1;
    for (long d : shape) {
      total = Math.multiplyExact(total, Math.max(d, 0));
    }
    return filled(allocator, dtype, shape, Math.toIntExact(total), buffer -> { });
  }

  /** Copies int32 values into a new tensor; see {@link #ofFloats}. */
  public static Tensor ofInts(BufferAllocator allocator, long[] shape, int[] values) {
    return filled(allocator, DType.INT32, shape, values.length, buffer -> buffer.asIntBuffer().put(values));
  }

  /** Copies uint8 values (Java bytes read as unsigned) into a new tensor; see {@link #ofFloats}. */
  public static Tensor ofUnsignedBytes(BufferAllocator allocator, long[] shape, byte[] values) {
    return filled(allocator, DType.UINT8, shape, values.length, buffer -> buffer.put(values));
  }

  /**
   * Copies 16-bit patterns into a new float16 or bfloat16 tensor; see {@link #ofFloats}.
   *
   * @param dtype {@link DType#FLOAT16} or {@link DType#BFLOAT16}
   */
  public static Tensor ofHalfBits(BufferAllocator allocator, DType dtype, long[] shape, short[] bits) {
    if (dtype != DType.FLOAT16 && dtype != DType.BFLOAT16) {
      throw new IllegalArgumentException("16-bit patterns make float16 or bfloat16 tensors, not " + dtype);
    }
    return filled(allocator, dtype, shape, bits.length, buffer -> buffer.asShortBuffer().put(bits));
  }

  private static Tensor filled(BufferAllocator allocator, DType dtype, long[] shape, int count,
      java.util.function.Consumer<java.nio.ByteBuffer> fill) {
    if (shape.length < 2) {
      throw new IllegalArgumentException("a tensor needs a batch and at least one more dimension, got "
          + Arrays.toString(shape));
    }
    long total = 1;
    for (long d : shape) {
      if (d <= 0) {
        throw new IllegalArgumentException("dimensions must be positive, got " + Arrays.toString(shape));
      }
      total = Math.multiplyExact(total, d);
    }
    if (total != count) {
      throw new IllegalArgumentException(String.format(
          "shape %s holds %d values, got %d", Arrays.toString(shape), total, count));
    }
    long bytes = (long) count * dtype.bytes();
    ArrowBuf data = allocator.buffer(bytes);
    try {
      data.setZero(0, bytes);
      if (bytes <= Integer.MAX_VALUE) {
        fill.accept(data.nioBuffer(0, (int) bytes).order(ByteOrder.nativeOrder()));
      }
      return new Tensor(data, dtype, shape.clone());
    } catch (RuntimeException e) {
      data.close();
      throw e;
    }
  }

  /**
   * Exports this tensor through the Arrow C Data Interface without copying: the receiver sees
   * this memory until it releases the export (the export holds its own reference, so closing
   * the tensor first is safe). Java must not change the memory meanwhile (this class has no way
   * to).
   *
   * @param allocator where the export's small bookkeeping (child structs, strings) comes from
   * @throws IllegalStateException if the tensor is closed or its memory is not 64-byte aligned
   *     (allocate it from {@link Allocators#aligned()})
   */
  public void exportTo(BufferAllocator allocator, long arrayAddress, long schemaAddress) {
    checkOpen();
    if (dataAddress() % AlignedAllocationManager.ALIGNMENT != 0) {
      throw new IllegalStateException("tensor memory at " + dataAddress()
          + " is not 64-byte aligned, so JAX would copy it; allocate it from Allocators.aligned()");
    }
    CDataTensors.export(allocator, data, byteSize(), dtype, shape, arrayAddress, schemaAddress);
  }

  /**
   * A tensor over the values of an Arrow vector (one read from an IPC file, say), without
   * copying: the tensor takes its own reference to the vector's value buffer, so the vector may
   * be closed afterwards.
   *
   * @throws IllegalArgumentException unless it is a fixed-size list of a supported type, with
   *     no nulls, whose field carries the {@code arrow.fixed_shape_tensor} shape
   */
  public static Tensor fromVector(FieldVector vector) {
    if (!(vector instanceof FixedSizeListVector list)) {
      throw new IllegalArgumentException(
          "expected a fixed-size list (a tensor), got " + vector.getField().getType());
    }
    DType dtype = DType.of(list.getField());
    if (list.getNullCount() != 0 || list.getDataVector().getNullCount() != 0) {
      throw new IllegalArgumentException("a tensor must not contain nulls");
    }
    long[] itemShape = TensorMetadata.shapeOf(list.getField());
    long perItem = Arrays.stream(itemShape).reduce(1, Math::multiplyExact);
    if (perItem != list.getListSize()) {
      throw new IllegalArgumentException(String.format(
          "shape %s holds %d values but each row has %d",
          Arrays.toString(itemShape), perItem, list.getListSize()));
    }
    long[] shape = new long[itemShape.length + 1];
    shape[0] = list.getValueCount();
    System.arraycopy(itemShape, 0, shape, 1, itemShape.length);
    long bytes = shape[0] * perItem * dtype.bytes();
    ArrowBuf values = list.getDataVector().getDataBuffer();
    values.getReferenceManager().retain();
    return new Tensor(values.slice(0, bytes), dtype, shape);
  }

  /**
   * A new Arrow vector over this tensor's memory, no copy (for writing files); it holds its own
   * reference to the memory, and the caller closes it. Its field is named {@code name}.
   */
  FixedSizeListVector toVector(String name) {
    checkOpen();
    long[] itemShape = Arrays.copyOfRange(shape, 1, shape.length);
    int rows = Math.toIntExact(shape[0]);
    int perItem = Math.toIntExact(size() / Math.max(rows, 1));
    BufferAllocator owner = data.getReferenceManager().getAllocator();
    FixedSizeListVector vector = (FixedSizeListVector) TensorMetadata
        .field(name, itemShape, perItem, dtype).createVector(owner);
    try {
      ArrowBuf noNulls = owner.getEmpty();
      vector.loadFieldBuffers(new ArrowFieldNode(rows, 0), List.of(noNulls));
      ((BaseFixedWidthVector) vector.getDataVector()).loadFieldBuffers(
          new ArrowFieldNode(size(), 0), List.of(noNulls, data));
      return vector;
    } catch (RuntimeException e) {
      vector.close();
      throw e;
    }
  }

  /** The full shape {@code [B, d1, ..., dn]}; a copy. */
  public long[] shape() {
    return shape.clone();
  }

  /** The element type. */
  public DType dtype() {
    return dtype;
  }

  /** The number of values. */
  public long size() {
    return Arrays.stream(shape).reduce(1, Math::multiplyExact);
  }

  /** The address of the first value: where the exporter's buffer lives. */
  public long dataAddress() {
    checkOpen();
    return data.memoryAddress();
  }

  /** Reads the value at a flat row-major index, widened to float. */
  public float getFlat(long index) {
    checkOpen();
    Objects.checkIndex(index, size());
    var buffer = data;
    long offset = index * dtype.bytes();
    return switch (dtype) {
      case FLOAT32 -> buffer.getFloat(offset);
      case FLOAT16 -> HalfFloats.float16ToFloat(buffer.getShort(offset));
      case BFLOAT16 -> HalfFloats.bfloat16ToFloat(buffer.getShort(offset));
      case INT32 -> buffer.getInt(offset);
      case UINT8 -> Byte.toUnsignedInt(buffer.getByte(offset));
    };
  }

  /** Copies every value into a new Java array, row-major, widened to float. */
  public float[] toFloatArray() {
    checkOpen();
    long n = size();
    if (n > Integer.MAX_VALUE) {
      throw new IllegalStateException("tensor of " + n + " values does not fit a Java array");
    }
    float[] out = new float[(int) n];
    if (dtype == DType.FLOAT32) {
      data.nioBuffer(0, (int) n * Float.BYTES)
          .order(ByteOrder.nativeOrder()).asFloatBuffer().get(out);
    } else {
      for (int i = 0; i < out.length; i++) {
        out[i] = getFlat(i);
      }
    }
    return out;
  }

  private long byteSize() {
    return size() * dtype.bytes();
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("tensor is closed");
    }
  }

  /** Releases the memory (for an imported tensor: runs the exporter's release callback). */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      data.close();
    }
  }

  /**
   * One line for a REPL or a log: element type, shape and, while open, the mean and standard
   * deviation of the values, e.g. {@code Tensor[float32 64×8×8×4 mean 0.01 std 1.00]}.
   */
  @Override
  public String toString() {
    StringBuilder text = new StringBuilder("Tensor[").append(dtype.pythonName()).append(' ');
    for (int i = 0; i < shape.length; i++) {
      text.append(i == 0 ? "" : "×").append(shape[i]);
    }
    if (closed) {
      return text.append(" closed]").toString();
    }
    double[] meanAndStd = meanAndStd();
    return text.append(String.format(java.util.Locale.ROOT, " mean %.2f std %.2f]",
        meanAndStd[0], meanAndStd[1])).toString();
  }

  /** The mean and the (population) standard deviation of the values, in two passes. */
  private double[] meanAndStd() {
    long n = size();
    double sum = 0;
    for (long i = 0; i < n; i++) {
      sum += getFlat(i);
    }
    double mean = sum / n;
    double squares = 0;
    for (long i = 0; i < n; i++) {
      double d = getFlat(i) - mean;
      squares += d * d;
    }
    return new double[] {mean, Math.sqrt(squares / n)};
  }

  /** Something that writes an Arrow C Data array and schema to the two addresses it is given. */
  @FunctionalInterface
  public interface CDataExporter {
    /**
     * @param arrayAddress address of an empty {@code struct ArrowArray}
     * @param schemaAddress address of an empty {@code struct ArrowSchema}
     */
    void exportTo(long arrayAddress, long schemaAddress);
  }
}
