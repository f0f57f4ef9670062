package io.latentlab.tensor;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/** Arrow allocators for tensors. */
public final class Allocators {
  private Allocators() {}

  /**
   * A root allocator whose buffers are 64-byte aligned, so that JAX can alias them. Scope it to
   * a run or a session and close it when done; closing reports leaks as an exception.
   */
  public static BufferAllocator aligned() {
    return new RootAllocator(RootAllocator.configBuilder()
        .allocationManagerFactory(AlignedAllocationManager.FACTORY)
        .build());
  }
}
