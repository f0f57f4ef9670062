package io.latentlab.run;

import io.latentlab.testing.TestProject;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.tensor.Allocators;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.BufferAllocator;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Sampling driven step by step from Java ({@link SamplerSession}: a bridge call and two
 * zero-copy tensors per step) against fused sampling (one jitted call) of the same model:
 * the quickstart's architecture with random weights, batch 64, 20 DDIM steps, guidance 3.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 8, time = 3) // the machine drifts by ±10% between forks: more samples narrow it
@Fork(1)
public class SamplingBenchmark {
  static final int STEPS = 20;
  static final int BATCH = 64;

  PythonBridge bridge;
  BufferAllocator allocator;
  Path run;
  List<Integer> labels;

  @Setup
  public void setUp() throws IOException {
    bridge = PythonBridge.start(TestProject.home());
    allocator = Allocators.aligned();
    run = Files.createTempDirectory("latentlab-bench");
    bridge.call("bench_checkpoint", run.resolve(RunDirectory.CHECKPOINT).toString());
    labels = Collections.nCopies(BATCH, 3);
  }

  @TearDown
  public void tearDown() {
    allocator.close();
  }

  @Benchmark
  public Object fused() {
    return bridge.call("bench_fused_sample", run.resolve(RunDirectory.CHECKPOINT).toString(), STEPS, labels);
  }

  @Benchmark
  public int stepwise() {
    try (SamplerSession session = SamplerSession.open(bridge, run,
        new SamplerOptions("ddim", STEPS, 0, labels, 3.0), allocator, io.latentlab.bridge.ProgressListener.NONE)) {
      while (!session.done()) {
        session.step().close();
      }
      return session.stepsDone();
    }
  }
}
