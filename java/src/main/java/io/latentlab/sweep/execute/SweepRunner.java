package io.latentlab.sweep.execute;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.ConfigException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.run.MlflowTracking;
import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.SweepPlanner;
import io.latentlab.sweep.SweepResults;
import io.latentlab.sweep.SweepSpec;
import io.latentlab.sweep.TrialState;
import io.latentlab.sweep.report.SweepReport;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Plans, resumes and runs sweeps under one runs root: the sweep directory is found from the
 * plan's hash, trials that completed (here or anywhere else: a training trial is a run) are
 * skipped, failed ones are retried only when asked, and the report is refreshed as trials end
 * (at most every 30 s) and when the sweep ends.
 *
 * <p>Use from one thread.
 */
public final class SweepRunner {
  /** The most often the report is redrawn while a sweep's trials end. */
  static final Duration REPORT_INTERVAL = Duration.ofSeconds(30);

  private final Path home;
  private final Path runsRoot;
  private final PythonBridge bridge;

  /**
   * @param home the project root
   * @param runsRoot where runs and {@code sweeps/} live
   * @param bridge the JVM's Python
   */
  public SweepRunner(Path home, Path runsRoot, PythonBridge bridge) {
    this.home = home.toAbsolutePath().normalize();
    this.runsRoot = runsRoot.toAbsolutePath().normalize();
    this.bridge = bridge;
  }

  /** The project root. */
  public Path home() {
    return home;
  }

  /** The runs root. */
  public Path runsRoot() {
    return runsRoot;
  }

  /**
   * Expands a sweep into its plan; writes nothing.
   *
   * @throws ConfigException in one line for a refused axis, value, run or size
   */
  public SweepPlan plan(SweepSpec spec) {
    return new SweepPlanner(home, runsRoot, bridge).plan(spec);
  }

  /** Where a plan's sweep directory is (it may not exist yet). */
  public Path directoryOf(SweepPlan plan) {
    return SweepDirectory.locate(runsRoot, plan);
  }

  /** One row of a plan's status: the trial and the state it is in now. */
  public record Row(SweepPlan.PlannedTrial trial, String state) {}

  /** Every trial of a plan with the state it is in now (completed, running, failed, pending). */
  public List<Row> status(SweepPlan plan) {
    SweepDirectory directory = SweepDirectory.open(directoryOf(plan));
    List<Row> rows = new ArrayList<>();
    for (SweepPlan.PlannedTrial trial : plan.trials()) {
      rows.add(new Row(trial, TrialRunner.currentState(plan, directory, trial)));
    }
    return rows;
  }

  /**
   * Runs a plan's trials that are not completed (failed ones only with {@code retryFailed}),
   * then refreshes the report. A trial another process runs now is handed to the executor too:
   * it waits for that process (or, on Slurm, skips the trial) instead of running it twice.
   *
   * @return every trial's state after the run
   */
  public SweepResults run(SweepPlan plan, SweepExecutor executor, boolean retryFailed,
      SweepExecutor.SweepProgress progress) {
    SweepDirectory directory = prepare(plan);
    List<SweepPlan.PlannedTrial> pending = new ArrayList<>();
    for (Row row : status(plan)) {
      if (row.state().equals(TrialState.COMPLETED) && directory.state(row.trial().trial())
          .map(TrialState::state).filter(TrialState.COMPLETED::equals).isEmpty()) {
        // Completed elsewhere (alone, in another sweep, in this sweep's earlier plan): recorded
        // here too, with its metrics, so this sweep's report and view count it.
        TrialRunner.recordIfCompleted(plan, directory, row.trial());
        continue;
      }
      boolean failedHere = directory.state(row.trial().trial()).map(TrialState::state)
          .filter(TrialState.FAILED::equals).isPresent();
      if (row.state().equals(TrialState.PENDING)
          || (row.state().equals(TrialState.RUNNING) && (retryFailed || !failedHere))
          || (retryFailed && row.state().equals(TrialState.FAILED))) {
        pending.add(row.trial());
      }
    }
    SweepExecutor.SweepProgress reporting = new SweepExecutor.SweepProgress() {
      private long lastRefresh = System.nanoTime();

      @Override
      public void started(SweepPlan.PlannedTrial trial) {
        progress.started(trial);
      }

      @Override
      public void ended(SweepPlan.PlannedTrial trial, TrialState state) {
        progress.ended(trial, state);
        // Drawn again at most every REPORT_INTERVAL while trials end (it reads every state file
        // and redraws every chart: a sweep of quick cells spent seconds on it), and at the end.
        if (System.nanoTime() - lastRefresh >= REPORT_INTERVAL.toNanos()) {
          refreshQuietly(plan, directory);
          lastRefresh = System.nanoTime();
        }
      }

      @Override
      public void skipped(SweepPlan.PlannedTrial trial, String reason) {
        progress.skipped(trial, reason);
      }

      @Override
      public void waiting(SweepPlan.PlannedTrial trial, String holder) {
        progress.waiting(trial, holder);
      }

      @Override
      public void step(String stage, long step, long total, double value) {
        progress.step(stage, step, total, value);
      }
    };
    ExperimentConfig base = plan.spec().sampling() || plan.spec().prompts() || pending.isEmpty() ? null
        : new ConfigLoader().load(plan.spec().base());
    if (base != null) { // its trials' MLflow runs become children of the sweep's
      MlflowTracking.startSweep(bridge, directory.path(), base, plan.name());
    }
    executor.execute(plan, directory, pending, reporting);
    refreshQuietly(plan, directory);
    SweepResults results = results(plan);
    if (base != null && results.trials().stream().noneMatch(trial ->
        trial.state().equals(TrialState.PENDING) || trial.state().equals(TrialState.RUNNING))) {
      MlflowTracking.finishSweep(bridge, directory.path(), base, results.trials().stream()
          .anyMatch(trial -> trial.state().equals(TrialState.FAILED)));
    }
    return results;
  }

  /** Every trial's state now, as recorded (pending for those that have none yet). */
  public SweepResults results(SweepPlan plan) {
    SweepDirectory directory = SweepDirectory.open(directoryOf(plan));
    List<TrialState> states = new ArrayList<>();
    for (SweepPlan.PlannedTrial trial : plan.trials()) {
      TrialState recorded = directory.state(trial.trial()).orElseGet(() -> TrialRunner.initial(plan, trial));
      String now = TrialRunner.currentState(plan, directory, trial);
      states.add(now.equals(recorded.state()) ? recorded
          : new TrialState(recorded.sweep(), recorded.trial(), recorded.index(), recorded.kind(), now,
              recorded.error(), recorded.attempts(), recorded.updatedAt(), recorded.axes(),
              recorded.metrics(), recorded.directory()));
    }
    return new SweepResults(plan, directoryOf(plan), states);
  }

  /** Creates the sweep directory with its plan and sweep file, if not already there. */
  public SweepDirectory prepare(SweepPlan plan) {
    SweepDirectory directory = SweepDirectory.open(directoryOf(plan));
    directory.writePlanIfAbsent(plan);
    return directory;
  }

  /** Writes the report (refreshed as trials end, so a half-done sweep shows something). */
  public Path refreshReport(SweepPlan plan, SweepDirectory directory) {
    return SweepReport.write(plan, directory);
  }

  /** Refreshes the report while trials run: a report that cannot be drawn stops no trial. */
  private void refreshQuietly(SweepPlan plan, SweepDirectory directory) {
    try {
      refreshReport(plan, directory);
    } catch (RuntimeException e) {
      System.err.printf("%nlatentlab: the sweep report could not be refreshed (%s); the trials go on; "
          + "try ./latentlab sweep report %s%n", e, plan.name());
    }
  }

  /**
   * The plan a sweep directory holds.
   *
   * @throws IllegalArgumentException if it holds none
   */
  public static SweepPlan readPlan(Path sweepDirectory) {
    return SweepDirectory.readPlan(sweepDirectory);
  }

  /**
   * A sweep directory named by its path or by the sweep's name (the newest of that name).
   *
   * @throws IllegalArgumentException in one line if there is none
   */
  public Path findSweep(String nameOrPath) {
    Path direct = Path.of(nameOrPath);
    if (Files.isRegularFile(direct.resolve(SweepDirectory.PLAN))) {
      return direct.toAbsolutePath().normalize();
    }
    Path sweeps = runsRoot.resolve(SweepDirectory.SWEEPS);
    try (Stream<Path> dirs = Files.isDirectory(sweeps) ? Files.list(sweeps) : Stream.empty()) {
      return dirs.filter(p -> p.getFileName().toString().matches(
              java.util.regex.Pattern.quote(nameOrPath) + "-[0-9a-f]{12}"))
          .filter(p -> Files.isRegularFile(p.resolve(SweepDirectory.PLAN)))
          .max(Comparator.comparing(p -> p.resolve(SweepDirectory.PLAN).toFile().lastModified()))
          .orElseThrow(() -> new IllegalArgumentException("no sweep named '" + nameOrPath
              + "' under " + sweeps + "; give its name or its directory"));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + sweeps, e);
    }
  }
}
