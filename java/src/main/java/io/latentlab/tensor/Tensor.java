package io.latentlab.tensor;

import java.util.Arrays;
import java.util.Objects;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import java.nio.ByteOrder;
import org.apache.arrow.vector.BaseFixedWidthVector;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * A batch of tensors held in Arrow memory: a non-null fixed-size list vector, one row per batch
 * item (row-major), whose field carries the {@code arrow.fixed_shape_tensor} extension metadata.
 * Shape {@code [B, d1, ..., dn]}; {@code shape()[0]} is the batch. Element types: {@link DType}.
 *
 * <p>A tensor imported from Python aliases the {@code jax.Array}'s memory: never write into it.
 * Closing it runs Python's release callback. Not thread-safe; close it on any thread once.
 */
public final class Tensor implements AutoCloseable {
  private final FixedSizeListVector vector;
  private final DType dtype;
  private final long[] shape;
  private boolean closed;

  private Tensor(FixedSizeListVector vector, DType dtype, long[] shape) {
    this.vector = vector;
    this.dtype = dtype;
    this.shape = shape;
  }

  /**
   * Receives a tensor exported through the Arrow C Data Interface, without copying.
   *
   * @param allocator owns the imported vector's bookkeeping (not its data, which the exporter
   *     keeps alive until {@link #close()})
   * @param exporter fills the two C structs at the addresses it is given
   * @throws IllegalArgumentException if what arrives is not a float32 fixed-shape tensor
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
    long[] itemShape = Arrays.copyOfRange(shape, 1, shape.length);
    int rows = Math.toIntExact(shape[0]);
    int perItem = Math.toIntExact(total / rows);
    FixedSizeListVector vector = (FixedSizeListVector) TensorMetadata
        .field("tensor", itemShape, perItem, dtype).createVector(allocator);
    try {
      vector.setInitialCapacity(rows);
      vector.allocateNew();
      for (int i = 0; i < rows; i++) {
        vector.setNotNull(i);
      }
      BaseFixedWidthVector data = (BaseFixedWidthVector) vector.getDataVector();
      data.getDataBuffer().setZero(0, (long) count * dtype.bytes());
      if (count > 0 && (long) count * dtype.bytes() <= Integer.MAX_VALUE) {
        fill.accept(data.getDataBuffer().nioBuffer(0, count * dtype.bytes()).order(ByteOrder.nativeOrder()));
      }
      data.getValidityBuffer().setOne(0, (count + 7) / 8);
      data.setValueCount(count);
      vector.setValueCount(rows);
      return new Tensor(vector, dtype, shape.clone());
    } catch (RuntimeException e) {
      vector.close();
      throw e;
    }
  }

  /**
   * Exports this tensor through the Arrow C Data Interface without copying: the receiver sees
   * this memory until it releases the export. Java must not change the memory meanwhile (this
   * class has no way to).
   *
   * @param allocator owns the export's bookkeeping
   * @throws IllegalStateException if the tensor is closed or its memory is not 64-byte aligned
   *     (allocate it from {@link Allocators#aligned()})
   */
  public void exportTo(BufferAllocator allocator, long arrayAddress, long schemaAddress) {
    checkOpen();
    if (dataAddress() % AlignedAllocationManager.ALIGNMENT != 0) {
      throw new IllegalStateException("tensor memory at " + dataAddress()
          + " is not 64-byte aligned, so JAX would copy it; allocate it from Allocators.aligned()");
    }
    org.apache.arrow.c.Data.exportVector(allocator, vector, null,
        org.apache.arrow.c.ArrowArray.wrap(arrayAddress), org.apache.arrow.c.ArrowSchema.wrap(schemaAddress));
  }

  /**
   * Views an imported Arrow vector as a tensor.
   *
   * @throws IllegalArgumentException unless it is a non-null fixed-size list of float32 whose
   *     field carries the {@code arrow.fixed_shape_tensor} shape
   */
  static Tensor wrap(FieldVector imported) {
    try {
      if (!(imported instanceof FixedSizeListVector list)) {
        throw new IllegalArgumentException(
            "expected a fixed-size list (a tensor), got " + imported.getField().getType());
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
      return new Tensor(list, dtype, shape);
    } catch (RuntimeException e) {
      imported.close();
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
    return vector.getDataVector().getDataBuffer().memoryAddress();
  }

  /** Reads the value at a flat row-major index, widened to float. */
  public float getFlat(long index) {
    checkOpen();
    Objects.checkIndex(index, size());
    var buffer = vector.getDataVector().getDataBuffer();
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
      vector.getDataVector().getDataBuffer().nioBuffer(0, (int) n * Float.BYTES)
          .order(ByteOrder.nativeOrder()).asFloatBuffer().get(out);
    } else {
      for (int i = 0; i < out.length; i++) {
        out[i] = getFlat(i);
      }
    }
    return out;
  }

  /** The Arrow vector behind this tensor, for writing it to files; owned by the tensor. */
  public FixedSizeListVector vector() {
    checkOpen();
    return vector;
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
      vector.close();
    }
  }

  @Override
  public String toString() {
    return "Tensor<" + dtype.pythonName() + ">" + Arrays.toString(shape) + (closed ? " (closed)" : "");
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
