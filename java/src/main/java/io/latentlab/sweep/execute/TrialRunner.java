package io.latentlab.sweep.execute;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.run.MlflowTracking;
import io.latentlab.run.RunClaim;
import io.latentlab.run.RunClaimedException;
import io.latentlab.run.RunDirectory;
import io.latentlab.run.RunResult;
import io.latentlab.run.Trial;
import io.latentlab.run.TrialExecutor;
import io.latentlab.lab.SampleTask;
import io.latentlab.run.TrialPlanner;
import io.latentlab.sweep.PromptTrials;
import io.latentlab.sweep.SamplingTrials;
import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.TrialState;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Runs one planned trial in this JVM, whichever executor asked: in-process sweeps, worker
 * processes and Slurm tasks all come here (the last two through {@code latentlab sweep-task}).
 * The trial's claim (its run directory's, or its sampling result's) keeps two processes from
 * running it; its state file is written when it ends, {@code completed} with its metrics or
 * {@code failed} with its error in one line (the traceback goes to its log).
 */
public final class TrialRunner {
  /** How often a sweep looks whether a trial another process runs has ended. */
  private static final long CLAIM_POLL_MILLIS = 500;
  /** Reads a run's {@code result.json}. */
  private static final ObjectMapper RESULT_JSON = new ObjectMapper();

  private TrialRunner() {}

  /** A trial's state before it has run. */
  static TrialState initial(SweepPlan plan, SweepPlan.PlannedTrial trial) {
    return new TrialState(plan.name(), trial.trial(), trial.index(), plan.kind(), TrialState.PENDING,
        null, 0, Instant.now(), columns(plan, trial), Map.of(), trial.directory().toString());
  }

  /** The trial's axis values by column name. */
  static Map<String, Object> columns(SweepPlan plan, SweepPlan.PlannedTrial trial) {
    Map<String, Object> columns = new LinkedHashMap<>();
    plan.columns().forEach((axis, column) -> columns.put(column, trial.axes().get(axis)));
    return columns;
  }

  /**
   * The state a trial is in now: {@code completed} if its results exist, {@code running} if
   * a live process holds its claim, else what its state file says ({@code failed}) or
   * {@code pending}.
   */
  public static String currentState(SweepPlan plan, SweepDirectory directory,
      SweepPlan.PlannedTrial trial) {
    if (completedMetrics(plan, trial) != null) {
      return TrialState.COMPLETED;
    }
    if (RunClaim.isClaimed(claimPath(plan, trial))) {
      return TrialState.RUNNING;
    }
    return directory.state(trial.trial()).map(TrialState::state)
        .filter(TrialState.FAILED::equals).orElse(TrialState.PENDING);
  }

  static Path claimPath(SweepPlan plan, SweepPlan.PlannedTrial trial) {
    return plan.spec().sampling()
        ? trial.directory().resolve(SamplingTrials.FOLDER).resolve(trial.trial())
        : trial.directory();
  }

  /** Whether another process holds the trial's claim now. */
  public static boolean isClaimed(SweepPlan plan, SweepPlan.PlannedTrial trial) {
    return RunClaim.isClaimed(claimPath(plan, trial));
  }

  /**
   * Waits until no process holds the trial's claim: the process running it ended (completed,
   * failed or died; the kernel drops the lock of a killed one). Never longer than that
   * process lives, and this thread holds no claim meanwhile, so two sweeps waiting on each
   * other's trials cannot deadlock.
   *
   * @throws IllegalStateException if interrupted (the trial is left to its holder)
   */
  static void awaitRelease(SweepPlan plan, SweepPlan.PlannedTrial trial) {
    Path claimed = claimPath(plan, trial);
    while (RunClaim.isClaimed(claimed)) {
      try {
        Thread.sleep(CLAIM_POLL_MILLIS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for trial " + trial.trial()
            + ", which another process runs");
      }
    }
  }

  /** Throws the claim's {@link RunClaimedException} (naming its holder) if it is held. */
  @SuppressWarnings("try") // the claim is taken and at once released
  private static void requireUnclaimed(Path claimed) {
    if (Files.exists(RunClaim.fileOf(claimed))) {
      try (RunClaim probe = RunClaim.acquire(claimed)) {
        // free: the trial's own code claims it for its run
      }
    }
  }

  /** The metrics of a completed trial, or null. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> completedMetrics(SweepPlan plan, SweepPlan.PlannedTrial trial) {
    if (plan.spec().prompts()) {
      return PromptTrials.completed(trial.directory());
    }
    if (plan.spec().sampling()) {
      return SamplingTrials.completed(trial.directory(), trial.trial());
    }
    Path result = trial.directory().resolve(RunDirectory.RESULT);
    if (!Files.isRegularFile(result)) {
      return null;
    }
    Map<String, Object> metrics;
    try {
      Map<String, Object> content = RESULT_JSON.readValue(result.toFile(), Map.class);
      Object recorded = content.get("metrics");
      metrics = recorded instanceof Map<?, ?> map ? (Map<String, Object>) map : Map.of();
    } catch (IOException e) {
      return null;
    }
    if (plan.spec().evaluate() == null) {
      return metrics;
    }
    // A scored training sweep: completed once its score is there too (trained but unscored,
    // the trial runs again, and only its scoring is done).
    Map<String, Object> score;
    try {
      score = SamplingTrials.completed(trial.directory(),
          SamplingTrials.ownTrial(new ConfigLoader(), trial.directory(), plan.spec().evaluate()));
    } catch (RuntimeException e) {
      return null; // its config or provenance unreadable: running it says why
    }
    return score == null ? null : withScore(metrics, score);
  }

  /** A trained trial's score, then its run's metrics (which win where a name is in both). */
  private static Map<String, Object> withScore(Map<String, Object> metrics,
      Map<String, Object> score) {
    Map<String, Object> both = new LinkedHashMap<>(score);
    both.putAll(metrics);
    return both;
  }

  /** Records the trial completed if its results exist (written by any process); else empty. */
  static Optional<TrialState> recordIfCompleted(SweepPlan plan, SweepDirectory directory,
      SweepPlan.PlannedTrial trial) {
    Map<String, Object> metrics = completedMetrics(plan, trial);
    if (metrics == null) {
      return Optional.empty();
    }
    TrialState before = directory.state(trial.trial()).orElseGet(() -> initial(plan, trial));
    return Optional.of(
        record(directory, before, TrialState.COMPLETED, null, before.attempts(), metrics));
  }

  /** {@link #run(Path, Supplier, SweepPlan, SweepDirectory, SweepPlan.PlannedTrial,
   * ProgressListener)} with Python already started. */
  public static TrialState run(Path home, PythonBridge bridge, SweepPlan plan,
      SweepDirectory directory, SweepPlan.PlannedTrial trial, ProgressListener progress) {
    return run(home, () -> bridge, plan, directory, trial, progress);
  }

  /**
   * Runs a trial unless it completed, and records how it ended; starts Python (asks
   * {@code bridge}) only if it runs it, so a worker whose trial completed or is held elsewhere
   * ends at once.
   *
   * @return its final state
   * @throws RunClaimedException if another process is running it (nothing is recorded)
   */
  public static TrialState run(Path home, Supplier<PythonBridge> bridge, SweepPlan plan,
      SweepDirectory directory, SweepPlan.PlannedTrial trial, ProgressListener progress) {
    Optional<TrialState> completed = recordIfCompleted(plan, directory, trial);
    if (completed.isPresent()) {
      return completed.get();
    }
    requireUnclaimed(claimPath(plan, trial)); // before counting an attempt it will not make
    TrialState before = directory.state(trial.trial()).orElseGet(() -> initial(plan, trial));
    Map<String, Object> metrics;
    int attempts = before.attempts() + 1;
    log(directory, trial, "attempt " + attempts + " started at " + Instant.now());
    try {
      metrics = plan.spec().sampling()
          ? SamplingScorer.run(bridge.get(), home, plan, trial, progress)
          : plan.spec().prompts() ? prompt(home, bridge, plan, trial, progress)
          : train(home, bridge.get(), plan, directory.path(), trial, progress);
      log(directory, trial, "completed at " + Instant.now());
      return record(directory, before, TrialState.COMPLETED, null, attempts, metrics);
    } catch (RunClaimedException e) {
      log(directory, trial, "attempt " + attempts + " not made: another process took the trial "
          + "first (" + e.holder() + ")");
      throw e;
    } catch (RuntimeException e) {
      String error = oneLine(e);
      log(directory, trial, "failed: " + error + (e instanceof PythonException python
          ? "\n" + python.traceback() : ""));
      return record(directory, before, TrialState.FAILED, error, attempts, Map.of());
    }
  }

  /**
   * The trial's overrides, plus {@code execution.processes} in a Slurm array task of several
   * tasks (a sweep file's {@code slurm: {nodes, tasks_per_node}}): the trial runs over them
   * ({@code run.ProcessGroup} starts one process per task with srun). The process count is not
   * part of the trial id.
   */
  static java.util.List<String> overridesHere(SweepPlan.PlannedTrial trial,
      Map<String, String> environment) {
    java.util.List<String> overrides = new java.util.ArrayList<>(trial.overrides());
    String tasks = environment.get("SLURM_NTASKS");
    if (environment.get("SLURM_ARRAY_TASK_ID") != null && tasks != null && tasks.matches("\\d+")
        && Integer.parseInt(tasks) > 1) {
      overrides.add("execution.processes=" + tasks);
    }
    return overrides;
  }

  /** Samples a prompt trial under a claim on its folder (two sweeps never sample one twice). */
  @SuppressWarnings("try") // the claim is held while the trial samples
  private static Map<String, Object> prompt(Path home, Supplier<PythonBridge> bridge,
      SweepPlan plan, SweepPlan.PlannedTrial trial, ProgressListener progress) {
    bridge.get(); // started here, so its start-up is this trial's, not the task's first call's
    Path runsRoot = trial.directory().getParent().getParent().getParent(); // <runs>/samples/<model>/<id>
    try (RunClaim claim = RunClaim.acquire(trial.directory())) {
      return PromptTrials.run(new SampleTask(home, runsRoot), plan.spec().model(), trial.axes(),
          progress);
    }
  }

  private static Map<String, Object> train(Path home, PythonBridge bridge, SweepPlan plan,
      Path sweepDirectory, SweepPlan.PlannedTrial trial, ProgressListener progress) {
    ConfigLoader loader = new ConfigLoader();
    Path runsRoot = trial.directory().getParent().getParent();
    Trial planned = new TrialPlanner(runsRoot, bridge).plan(plan.spec().base(),
        loader.load(plan.spec().base(), overridesHere(trial, System.getenv())),
        trial.replicate());
    if (!planned.id().shortId().equals(trial.trial())) {
      throw new IllegalStateException("trial " + trial.trial() + " now resolves to "
          + planned.id().shortId() + " (its base config changed since the sweep was planned); "
          + "plan the sweep again");
    }
    RunResult result = TrialExecutor.inProcess(home, bridge,
        MlflowTracking.parentOf(sweepDirectory, plan.name())).execute(planned, progress, false);
    if (plan.spec().evaluate() == null) {
      return result.metrics();
    }
    return withScore(result.metrics(), SamplingScorer.scoreOwn(bridge, home, trial.directory(),
        plan.spec().evaluate(), progress));
  }

  private static TrialState record(SweepDirectory directory, TrialState before, String state,
      String error, int attempts, Map<String, Object> metrics) {
    Map<String, Object> numbers = new LinkedHashMap<>();
    metrics.forEach((name, value) -> {
      if (value instanceof Number || value instanceof String || value instanceof Boolean) {
        numbers.put(name, value);
      }
    });
    TrialState after = before.with(state, error, attempts, numbers);
    directory.writeState(after);
    return after;
  }

  static String oneLine(Throwable e) {
    String message = e instanceof PythonException python
        ? python.pythonType() + ": " + python.pythonMessage() : String.valueOf(e.getMessage());
    if (e instanceof UncheckedIOException && e.getCause() != null) {
      message += " (" + e.getCause() + ")"; // which I/O error: missing folder, disk full, ...
    }
    String line = message.strip().lines().findFirst().orElse(e.getClass().getSimpleName());
    return line.length() > 300 ? line.substring(0, 300) + "…" : line;
  }

  /** Appends a line to the trial's log (in-process trials write only these; processes all). */
  static void log(SweepDirectory directory, SweepPlan.PlannedTrial trial, String line) {
    try {
      Files.writeString(directory.log(trial.trial()), line + "\n", StandardCharsets.UTF_8,
          StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + directory.log(trial.trial()), e);
    }
  }
}
