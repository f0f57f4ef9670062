package io.latentlab.tensor;

/** Opens an allocator and prints what happened: run in a JVM started without the flag. */
public final class AllocatorProbe {
  private AllocatorProbe() {}

  /** Prints {@code ok} or the error's message. */
  public static void main(String[] args) {
    try (var memory = Allocators.aligned();
        var tensor = Tensor.ofFloats(memory, new long[] {1, 2}, new float[2])) {
      System.out.println("ok");
    } catch (RuntimeException e) {
      System.out.println(e.getMessage());
    }
  }
}
