package io.latentlab.sweep;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.run.RunClaimedException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
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
   * and compiles each (sampler, steps, batch) once.
   */
  public static SweepExecutor local(Path home, PythonBridge bridge) {
    return (plan, directory, pending, progress) -> {
      for (SweepPlan.PlannedTrial trial : pending) {
        progress.started(trial);
        try {
          progress.ended(trial, TrialRunner.run(home, bridge, plan, directory, trial, progress::step));
        } catch (RunClaimedException e) {
          progress.skipped(trial, e.getMessage());
        }
      }
    };
  }

  /**
   * Trials in up to {@code parallel} worker processes at a time, each {@code latentlab
   * sweep-task} running one trial with its own embedded Python and its output in the trial's
   * log. A worker that dies without recording an end (killed, out of memory, a crash in native
   * code) has its trial recorded {@code failed}; the others go on.
   *
   * @param home the project root (holds {@code target/latentlab.jar})
   * @param parallel at most this many workers at once
   */
  public static SweepExecutor processes(Path home, int parallel) {
    if (parallel < 1) {
      throw new IllegalArgumentException("--parallel must be >= 1, got " + parallel);
    }
    return (plan, directory, pending, progress) -> {
      Deque<SweepPlan.PlannedTrial> queue = new ArrayDeque<>(pending);
      List<Worker> running = new ArrayList<>();
      try {
        while (!queue.isEmpty() || !running.isEmpty()) {
          while (running.size() < parallel && !queue.isEmpty()) {
            SweepPlan.PlannedTrial trial = queue.poll();
            progress.started(trial);
            running.add(new Worker(trial, TaskCommand.start(home, directory, trial), java.time.Instant.now()));
          }
          Thread.sleep(200);
          for (Worker worker : List.copyOf(running)) {
            if (!worker.process.isAlive()) {
              running.remove(worker);
              finish(plan, directory, worker, progress);
            }
          }
        }
      } catch (InterruptedException e) {
        running.forEach(w -> w.process.destroy());
        Thread.currentThread().interrupt();
      }
    };
  }

  private record Worker(SweepPlan.PlannedTrial trial, Process process, java.time.Instant started) {}

  private static void finish(SweepPlan plan, SweepDirectory directory, Worker worker,
      SweepExecutor.SweepProgress progress) {
    int exit = worker.process.exitValue();
    SweepPlan.PlannedTrial trial = worker.trial;
    if (exit == TaskCommand.EXIT_RUNNING_ELSEWHERE) {
      progress.skipped(trial, "running elsewhere");
      return;
    }
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

  /** The {@code latentlab sweep-task} command line of one trial. */
  static final class TaskCommand {
    /** Exit code of a task whose trial another process holds. */
    static final int EXIT_RUNNING_ELSEWHERE = 3;

    private TaskCommand() {}

    /** The command without its two arguments (worker processes and Slurm array tasks). */
    static List<String> program(Path home) {
      return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-Dlatentlab.home=" + home, "-jar", home.resolve("target").resolve("latentlab.jar").toString(),
          "sweep-task");
    }

    static List<String> of(Path home, SweepDirectory directory, SweepPlan.PlannedTrial trial) {
      List<String> command = new ArrayList<>(program(home));
      command.add(directory.path().toString());
      command.add(Integer.toString(trial.index()));
      return command;
    }

    static Process start(Path home, SweepDirectory directory, SweepPlan.PlannedTrial trial) {
      try {
        return new ProcessBuilder(of(home, directory, trial)).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(directory.log(trial.trial()).toFile()))
            .start();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot start a worker process for trial " + trial.trial(), e);
      }
    }
  }
}
