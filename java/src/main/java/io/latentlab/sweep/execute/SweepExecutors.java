package io.latentlab.sweep.execute;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.run.RunClaimedException;
import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.TrialState;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;

/** The executors a sweep can run on. */
public final class SweepExecutors {
  private SweepExecutors() {}

  /**
   * Trials one after another in this JVM's Python: a sampling sweep loads its checkpoint once
   * and compiles each (sampler, steps, batch) once. A trial another process runs is put off
   * until the others have run, then waited for (see {@link SweepExecutor}).
   */
  public static SweepExecutor local(Path home, PythonBridge bridge) {
    return (plan, directory, pending, progress) -> {
      Deque<SweepPlan.PlannedTrial> heldElsewhere = new ArrayDeque<>();
      for (SweepPlan.PlannedTrial trial : pending) {
        runOrPutOff(home, bridge, plan, directory, trial, progress, heldElsewhere);
      }
      while (!heldElsewhere.isEmpty()) {
        SweepPlan.PlannedTrial trial = heldElsewhere.poll();
        TrialRunner.awaitRelease(plan, trial);
        runOrPutOff(home, bridge, plan, directory, trial, progress, heldElsewhere);
      }
    };
  }

  private static void runOrPutOff(Path home, PythonBridge bridge, SweepPlan plan,
      SweepDirectory directory, SweepPlan.PlannedTrial trial, SweepExecutor.SweepProgress progress,
      Deque<SweepPlan.PlannedTrial> heldElsewhere) {
    progress.started(trial);
    try {
      progress.ended(trial, TrialRunner.run(home, bridge, plan, directory, trial, progress::step));
    } catch (RunClaimedException e) {
      progress.waiting(trial, "trial " + trial.trial() + " is running in another process ("
          + e.holder() + ")");
      heldElsewhere.add(trial);
    }
  }

  /**
   * Trials in up to {@code parallel} worker processes at a time, each {@code latentlab
   * sweep-task} running one trial with its own embedded Python and its output in the trial's
   * log. A worker that dies without recording an end (killed, out of memory, a crash in native
   * code) has its trial recorded {@code failed}; the others go on. A trial another process
   * runs (its worker exits {@value RunClaimedException#EXIT_STATUS}) is started again once that process has let it go, and then
   * completes from that process's result (see {@link SweepExecutor}).
   *
   * @param home the project root (holds the jar, {@link TaskCommand#jar})
   * @param parallel at most this many workers at once
   */
  public static SweepExecutor processes(Path home, int parallel) {
    if (parallel < 1) {
      throw new IllegalArgumentException("--parallel must be >= 1, got " + parallel);
    }
    return (plan, directory, pending, progress) -> {
      Deque<SweepPlan.PlannedTrial> queue = new ArrayDeque<>(pending);
      List<Worker> running = new ArrayList<>();
      List<SweepPlan.PlannedTrial> heldElsewhere = new ArrayList<>();
      try {
        while (!queue.isEmpty() || !running.isEmpty() || !heldElsewhere.isEmpty()) {
          while (running.size() < parallel && !queue.isEmpty()) {
            SweepPlan.PlannedTrial trial = queue.poll();
            progress.started(trial);
            running.add(new Worker(trial, TaskCommand.start(home, directory, trial), Instant.now()));
          }
          Thread.sleep(200);
          for (Worker worker : List.copyOf(running)) {
            if (!worker.process.isAlive()) {
              running.remove(worker);
              if (worker.process.exitValue() == RunClaimedException.EXIT_STATUS) {
                progress.waiting(worker.trial, "trial " + worker.trial.trial()
                    + " is running in another process (its worker's log "
                    + directory.log(worker.trial.trial()) + " names it)");
                heldElsewhere.add(worker.trial);
              } else {
                finish(plan, directory, worker, progress);
              }
            }
          }
          for (SweepPlan.PlannedTrial trial : List.copyOf(heldElsewhere)) {
            if (!TrialRunner.isClaimed(plan, trial)) {
              heldElsewhere.remove(trial);
              var completed = TrialRunner.recordIfCompleted(plan, directory, trial);
              if (completed.isPresent()) {
                progress.ended(trial, completed.get());
              } else {
                queue.addFirst(trial); // that process died or failed: a worker takes it over
              }
            }
          }
        }
      } catch (InterruptedException e) {
        running.forEach(w -> w.process.destroy());
        Thread.currentThread().interrupt();
      }
    };
  }

  private record Worker(SweepPlan.PlannedTrial trial, Process process, Instant started) {}

  private static void finish(SweepPlan plan, SweepDirectory directory, Worker worker,
      SweepExecutor.SweepProgress progress) {
    int exit = worker.process.exitValue();
    SweepPlan.PlannedTrial trial = worker.trial;
    TrialState state = directory.state(trial.trial()).orElse(null);
    boolean recorded = state != null && !state.updatedAt().isBefore(worker.started)
        && (TrialState.COMPLETED.equals(state.state()) || TrialState.FAILED.equals(state.state()));
    if (!recorded) {
      TrialState before = state != null ? state : TrialRunner.initial(plan, trial);
      state = before.with(TrialState.FAILED, "its worker process ended with exit code " + exit
          + " without recording a result (killed or crashed); see " + directory.log(trial.trial()),
          before.attempts() + 1, Map.of());
      directory.writeState(state);
    }
    progress.ended(trial, state);
  }
}
