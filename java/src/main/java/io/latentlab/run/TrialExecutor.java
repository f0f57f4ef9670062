package io.latentlab.run;

import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import java.nio.file.Path;

/**
 * Runs planned trials. The in-process executor ({@link #inProcess}) trains and samples in this
 * JVM's Python; sweeps add executors that run trials in worker processes or on a cluster, each
 * through the same run directory contract: a trial is claimed before work starts, writes its
 * files atomically, and is complete once {@code result.json} exists.
 */
public interface TrialExecutor {
  /**
   * Runs a trial, or reports its earlier result if it already completed.
   *
   * @param progress told of training and sampling progress ({@link ProgressListener#NONE} for
   *     none)
   * @param rerun run a completed trial again, keeping the earlier run directory under the name
   *     {@code <trial>.replaced-<UTC time>}
   * @return where the results are and what they were
   * @throws RunClaimedException if another process is running the same trial
   * @throws io.latentlab.bridge.PythonException if training or sampling failed (the run is
   *     recorded {@code failed})
   * @throws NullPointerException if {@code trial} or {@code progress} is null (nothing is
   *     written)
   */
  RunResult execute(Trial trial, ProgressListener progress, boolean rerun);

  /**
   * The executor that runs trials one at a time in this JVM's embedded Python.
   *
   * @param home the project root (the data set's location is resolved against it)
   * @param bridge the JVM's Python
   */
  static TrialExecutor inProcess(Path home, PythonBridge bridge) {
    return inProcess(home, bridge, MlflowTracking.Parent.NONE);
  }

  /**
   * The in-process executor for a sweep's trials: their MLflow runs (where one is asked for)
   * are children of the sweep's.
   */
  static TrialExecutor inProcess(Path home, PythonBridge bridge, MlflowTracking.Parent parent) {
    return new InProcessExecutor(home.toAbsolutePath().normalize(), bridge, parent);
  }
}
