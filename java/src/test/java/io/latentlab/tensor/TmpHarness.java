package io.latentlab.tensor;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.testing.TestProject;
import java.util.Arrays;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.memory.BufferAllocator;

public class TmpHarness {
  public static void main(String[] args) {
    PythonBridge bridge = PythonBridge.start(TestProject.home());
    BufferAllocator allocator = Allocators.aligned();
    long bytes = Long.parseLong(args[0]);
    Tensor tensor = Tensor.zeros(allocator, DType.FLOAT32, new long[] {1, bytes / 4});
    int n = 20000;
    long[][] t = new long[4][n];
    for (int i = 0; i < n; i++) {
      long a = System.nanoTime();
      ArrowArray array = ArrowArray.allocateNew(allocator);
      ArrowSchema schema = ArrowSchema.allocateNew(allocator);
      long b = System.nanoTime();
      tensor.exportTo(allocator, array.memoryAddress(), schema.memoryAddress());
      long c = System.nanoTime();
      bridge.callForLong(args[1], array.memoryAddress(), schema.memoryAddress());
      long d = System.nanoTime();
      array.close(); schema.close();
      long e = System.nanoTime();
      t[0][i] = b - a; t[1][i] = c - b; t[2][i] = d - c; t[3][i] = e - d;
    }
    String[] names = {"alloc", "export", "call", "close"};
    for (int k = 0; k < 4; k++) {
      long[] s = Arrays.copyOfRange(t[k], n / 2, n);
      Arrays.sort(s);
      System.out.printf("%s median %.1f us  p90 %.1f%n", names[k], s[s.length / 2] / 1e3, s[s.length * 9 / 10] / 1e3);
    }
    if (args[1].equals("tmp_import")) System.out.println(bridge.call("tmp_report"));
    tensor.close();
    bridge.close();
  }
}
