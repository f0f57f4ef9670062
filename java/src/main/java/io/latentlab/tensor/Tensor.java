package io.latentlab.tensor;

import java.util.Arrays;
import java.util.Objects;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * A batch of float32 tensors held in Arrow memory: a non-null fixed-size list vector, one row per
 * batch item (row-major), whose field carries the {@code arrow.fixed_shape_tensor} extension
 * metadata. Shape {@code [B, d1, ..., dn]}; {@code shape()[0]} is the batch.
 *
 * <p>A tensor imported from Python aliases the {@code jax.Array}'s memory: never write into it.
 * Closing it runs Python's release callback. Not thread-safe; close it on any thread once.
 */
public final class Tensor implements AutoCloseable {
  private final FixedSizeListVector vector;
  private final long[] shape;
  private boolean closed;

  private Tensor(FixedSizeListVector vector, long[] shape) {
    this.vector = vector;
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
   * Views an imported Arrow vector as a tensor.
   *
   * @throws IllegalArgumentException unless it is a non-null fixed-size list of float32 whose
   *     field carries the {@code arrow.fixed_shape_tensor} shape
   */
  static Tensor wrap(FieldVector imported) {
    try {
      if (!(imported instanceof FixedSizeListVector list)
          || !(list.getDataVector() instanceof Float4Vector)) {
        throw new IllegalArgumentException(
            "expected a fixed-size list of float32, got " + imported.getField().getType());
      }
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
      return new Tensor(list, shape);
    } catch (RuntimeException e) {
      imported.close();
      throw e;
    }
  }

  /** The full shape {@code [B, d1, ..., dn]}; a copy. */
  public long[] shape() {
    return shape.clone();
  }

  /** The number of float32 values. */
  public long size() {
    return Arrays.stream(shape).reduce(1, Math::multiplyExact);
  }

  /** The address of the first value: where the exporter's buffer lives. */
  public long dataAddress() {
    checkOpen();
    return vector.getDataVector().getDataBuffer().memoryAddress();
  }

  /** Reads the value at a flat row-major index. */
  public float getFlat(long index) {
    checkOpen();
    Objects.checkIndex(index, size());
    return vector.getDataVector().getDataBuffer().getFloat(index * Float.BYTES);
  }

  /** Copies every value into a new Java array, row-major. */
  public float[] toFloatArray() {
    checkOpen();
    long n = size();
    if (n > Integer.MAX_VALUE) {
      throw new IllegalStateException("tensor of " + n + " values does not fit a Java array");
    }
    float[] out = new float[(int) n];
    vector.getDataVector().getDataBuffer().nioBuffer(0, (int) n * Float.BYTES)
        .order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer().get(out);
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
    return "Tensor" + Arrays.toString(shape) + (closed ? " (closed)" : "");
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
