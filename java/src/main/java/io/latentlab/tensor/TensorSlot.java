package io.latentlab.tensor;

import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.memory.BufferAllocator;

/**
 * An empty pair of Arrow C Data structs that Python fills with an exported tensor; use it when
 * one Python call returns several tensors. Give Python {@link #arrayAddress()} and {@link
 * #schemaAddress()}, then {@link #take()} the tensor. Closing frees the structs (and releases an
 * export that was never taken).
 */
public final class TensorSlot implements AutoCloseable {
  private final BufferAllocator allocator;
  private final ArrowArray array;
  private final ArrowSchema schema;
  private boolean taken;

  private TensorSlot(BufferAllocator allocator) {
    this.allocator = allocator;
    this.array = ArrowArray.allocateNew(allocator);
    this.schema = ArrowSchema.allocateNew(allocator);
  }

  /** Allocates an empty slot. */
  public static TensorSlot allocate(BufferAllocator allocator) {
    return new TensorSlot(allocator);
  }

  /** Address of the {@code struct ArrowArray} to export into. */
  public long arrayAddress() {
    return array.memoryAddress();
  }

  /** Address of the {@code struct ArrowSchema} to export into. */
  public long schemaAddress() {
    return schema.memoryAddress();
  }

  /**
   * Imports what was exported into this slot, without copying the data.
   *
   * @throws IllegalArgumentException if it is not a fixed-shape tensor of a supported type
   */
  public Tensor take() {
    if (taken) {
      throw new IllegalStateException("this slot's tensor was already taken");
    }
    taken = true; // the import owns both structs from here, even when it fails
    return CDataTensors.take(allocator, array, schema);
  }

  @Override
  public void close() {
    if (!taken) {
      taken = true;
      array.release(); // no-op unless Python exported into it
      schema.release();
      array.close();
      schema.close();
    }
  }
}
