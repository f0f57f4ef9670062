package io.latentlab.tensor;

import org.apache.arrow.memory.AllocationManager;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.unsafe.UnsafeAllocationManager;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * Native memory whose first byte is 64-byte aligned. Arrow Java's own managers give no such
 * guarantee (about a quarter of allocations were aligned when measured), and JAX on CPU takes a
 * buffer without copying only when it is 64-byte aligned: this over-allocates by 63 bytes and
 * rounds the address up.
 */
final class AlignedAllocationManager extends AllocationManager {
  static final int ALIGNMENT = 64;

  /** Creates aligned managers; its empty buffer is Arrow's shared one. */
  static final Factory FACTORY = new Factory() {
    @Override
    public AllocationManager create(BufferAllocator accountingAllocator, long size) {
      return new AlignedAllocationManager(accountingAllocator, size);
    }

    @Override
    public ArrowBuf empty() {
      return UnsafeAllocationManager.FACTORY.empty();
    }
  };

  private final long rawAddress;
  private final long alignedAddress;
  private final long size;

  private AlignedAllocationManager(BufferAllocator accountingAllocator, long size) {
    super(accountingAllocator);
    this.size = size;
    this.rawAddress = MemoryUtil.allocateMemory(size + ALIGNMENT - 1);
    this.alignedAddress = (rawAddress + ALIGNMENT - 1) & -ALIGNMENT;
  }

  @Override
  public long getSize() {
    return size;
  }

  @Override
  protected long memoryAddress() {
    return alignedAddress;
  }

  @Override
  protected void release0() {
    MemoryUtil.freeMemory(rawAddress);
  }
}
