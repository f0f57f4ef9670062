package io.latentlab.tensor;

import io.latentlab.testing.TestProject;
import io.latentlab.bridge.PythonBridge;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * A tensor handed from Java to a {@code jax.Array} and from a {@code jax.Array} to Java, each
 * way a full bridge call, beside a memcpy of the same bytes (what a copying bridge would pay at
 * the least).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class HandoffBenchmark {
  @Param({"4096", "262144", "4194304", "67108864", "1073741824"})
  public long bytes;

  PythonBridge bridge;
  BufferAllocator allocator;
  Tensor tensor;
  long held;
  ArrowBuf source;
  ArrowBuf target;

  /** Allocates only what the benchmark about to run uses (at 1 GiB, the rest would be 3 GiB more). */
  @Setup
  public void setUp(BenchmarkParams params) {
    bridge = PythonBridge.start(TestProject.home());
    allocator = Allocators.aligned();
    String benchmark = params.getBenchmark();
    if (benchmark.endsWith(".javaToJax")) {
      tensor = Tensor.zeros(allocator, DType.FLOAT32, new long[] {1, bytes / Float.BYTES});
    } else if (benchmark.endsWith(".jaxToJava")) {
      held = bridge.callForLong("bench_hold", bytes);
    } else {
      source = allocator.buffer(bytes);
      target = allocator.buffer(bytes);
      source.setZero(0, bytes);
      target.setZero(0, bytes);
    }
  }

  @TearDown
  public void tearDown() {
    if (held != 0) {
      bridge.call("bench_release", held);
    }
    if (source != null) {
      source.close();
      target.close();
    }
    if (tensor != null) {
      tensor.close();
    }
    bridge.collectGarbage();
    allocator.close();
  }

  @Benchmark
  @BenchmarkMode(Mode.SampleTime) // each handoff timed: the report gives the median beside the mean
  public long javaToJax() {
    try (ArrowArray array = ArrowArray.allocateNew(allocator);
        ArrowSchema schema = ArrowSchema.allocateNew(allocator)) {
      tensor.exportTo(allocator, array.memoryAddress(), schema.memoryAddress());
      return bridge.callForLong("bench_import", array.memoryAddress(), schema.memoryAddress());
    }
  }

  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  public long jaxToJava() {
    try (Tensor received = Tensor.importFrom(allocator,
        (array, schema) -> bridge.call("bench_export_held", held, array, schema))) {
      return received.dataAddress();
    }
  }

  @Benchmark
  public long memcpy() {
    MemoryUtil.copyMemory(source.memoryAddress(), target.memoryAddress(), bytes);
    return target.memoryAddress();
  }
}
