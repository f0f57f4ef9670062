package io.latentlab.bridge;

import io.latentlab.testing.TestProject;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The bridge's cost per call against a raw Jep {@code invoke} of the same Python no-op. The raw
 * reference runs on the interpreter's thread in batches of 1000 (one handoff per batch); the
 * bridge is called from the benchmark's own thread, as JShell and notebooks call it.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class BridgeCallBenchmark {
  static final int BATCH = 1000;
  PythonBridge bridge;
  String noop;
  String viaCall;

  @Setup
  public void start() {
    bridge = PythonBridge.start(TestProject.home());
    noop = PythonBridge.moduleAlias() + ".noop";
    viaCall = PythonBridge.moduleAlias() + ".call";
  }

  /** Reference: Jep's own invoke, on the interpreter thread. */
  @Benchmark
  @OperationsPerInvocation(BATCH)
  public Object rawInvoke_interpreterThread() {
    return bridge.withInterpreter(python -> {
      Object last = null;
      for (int i = 0; i < BATCH; i++) {
        last = python.invoke(noop);
      }
      return last;
    });
  }

  /** The bridge's Python-side dispatch (name check, error capture), on the interpreter thread. */
  @Benchmark
  @OperationsPerInvocation(BATCH)
  public Object bridgeDispatch_interpreterThread() {
    return bridge.withInterpreter(python -> {
      Object last = null;
      for (int i = 0; i < BATCH; i++) {
        last = python.invoke(viaCall, "noop");
      }
      return last;
    });
  }

  /** A bridge call from another thread: handoff, dispatch, and the wait for the answer. */
  @Benchmark
  public Object bridgeCall_otherThread() {
    return bridge.call("noop");
  }
}
