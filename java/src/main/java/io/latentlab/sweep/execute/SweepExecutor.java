package io.latentlab.sweep.execute;

import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.TrialState;
import java.util.List;

/**
 * Runs the pending trials of a planned sweep. Every executor runs each trial through the same
 * contract: the trial is claimed before it starts (two executors never run one trial), its
 * state file in the sweep directory is written when it starts and when it ends, and a trial
 * that fails is recorded {@code failed} with its error while the others go on.
 *
 * <p>A trial another process runs (another sweep sharing it, or a run of the same config) is
 * run once: the local executors run their other trials first, then wait for that process to
 * end and record the trial {@code completed} from its result (or run it themselves, resuming
 * it, where that process died or failed); the Slurm executor reports it skipped.
 */
public interface SweepExecutor {
  /**
   * Runs the trials and returns when they have ended (or, for a cluster, when they have been
   * submitted and, with waiting, ended).
   *
   * @param plan the sweep's plan
   * @param directory its sweep directory (plan written, states readable)
   * @param pending the trials to run, in plan order (trials another process runs now among
   *     them)
   * @param progress told as trials start and end
   */
  void execute(SweepPlan plan, SweepDirectory directory, List<SweepPlan.PlannedTrial> pending,
      SweepProgress progress);

  /** Receives a sweep's progress; called from the executor's thread. */
  interface SweepProgress {
    /** A progress listener that ignores everything. */
    SweepProgress NONE = new SweepProgress() { };

    /** A trial started. */
    default void started(SweepPlan.PlannedTrial trial) { }

    /** A trial ended in {@code state} ({@code completed} or {@code failed}). */
    default void ended(SweepPlan.PlannedTrial trial, TrialState state) { }

    /** A trial was not run: another process holds it. */
    default void skipped(SweepPlan.PlannedTrial trial, String reason) { }

    /**
     * Another process runs this trial ({@code holder} says which, in one line); the executor
     * waits for it to end, then reports the trial started and ended as usual.
     */
    default void waiting(SweepPlan.PlannedTrial trial, String holder) { }

    /** Progress inside the running trial (training or sampling steps). */
    default void step(String stage, long step, long total, double value) { }
  }
}
