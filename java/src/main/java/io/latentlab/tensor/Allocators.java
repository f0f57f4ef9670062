package io.latentlab.tensor;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/** Arrow allocators for tensors. */
public final class Allocators {
  /** The JVM flag Arrow's memory needs on JDK 17+. */
  public static final String ADD_OPENS = "--add-opens=java.base/java.nio=ALL-UNNAMED";

  private Allocators() {}

  /**
   * Checks that Arrow can reach the JDK's direct buffers; without {@link #ADD_OPENS} Arrow fails
   * at the first tensor with a message that names no fix.
   *
   * @throws IllegalStateException in one line naming the flag and where to put it
   */
  public static void requireArrowAccess() {
    if (!Object.class.getModule().isOpen("java.nio", Allocators.class.getModule())) {
      throw new IllegalStateException("Arrow needs the JVM flag " + ADD_OPENS
          + " (java: add it before -cp; jshell: -R" + ADD_OPENS
          + "; a notebook kernel: its JVM options); ./latentlab sets it for you");
    }
  }

  /**
   * A root allocator whose buffers are 64-byte aligned, so that JAX can alias them. Scope it to
   * a run or a session and close it when done; closing reports leaks as an exception.
   */
  public static BufferAllocator aligned() {
    requireArrowAccess();
    return new RootAllocator(RootAllocator.configBuilder()
        .allocationManagerFactory(AlignedAllocationManager.FACTORY)
        .build());
  }
}
