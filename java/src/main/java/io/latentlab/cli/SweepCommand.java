package io.latentlab.cli;

import io.latentlab.lab.ProgressBars;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.sweep.SweepLoader;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.SweepResults;
import io.latentlab.sweep.SweepSpec;
import io.latentlab.sweep.TrialState;
import io.latentlab.sweep.execute.SweepExecutor;
import io.latentlab.sweep.execute.SweepExecutors;
import io.latentlab.sweep.execute.SweepRunner;
import io.latentlab.sweep.slurm.SlurmExecutors;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code latentlab sweep FILE}: plan, run, resume and report a parameter sweep. */
@Command(
    name = "sweep",
    mixinStandardHelpOptions = true,
    header = "Runs a parameter sweep: sampling settings over a run, or training settings.",
    description = {
        "Expands the sweep file FILE into trials (grid: crossed, zip: advanced together, random: "
            + "n draws), checks every trial's config before anything runs, and runs the trials "
            + "that are not completed. A sampling sweep (run: <trial id>) samples and scores "
            + "that run's checkpoint with each trial's sample.* settings, in one process that "
            + "loads the model once and compiles each sampler once; a training sweep (base: "
            + "<config>) runs each trial as a run, so a trial already run anywhere runs once.",
        "The sweep directory runs/sweeps/<name>-<plan hash>/ holds the plan, each trial's state "
            + "and log, and report.md with its plots (refreshed as trials end). Running the same "
            + "sweep again skips completed trials, resumes killed training trials from their "
            + "checkpoints and retries failed ones only with --retry-failed. Exit 1 if any trial "
            + "failed (they are named), 2 for a bad sweep file."},
    subcommands = {SweepCommand.Status.class, SweepCommand.Report.class},
    footer = {"", "Examples:",
        "  ./latentlab sweep experiments/sweeps/samplers.yaml --dry-run",
        "  ./latentlab sweep experiments/sweeps/samplers.yaml",
        "  ./latentlab sweep experiments/sweeps/schedules.yaml --parallel 2",
        "  ./latentlab sweep experiments/sweeps/schedules.yaml --executor slurm --max-parallel 4",
        "  ./latentlab sweep status samplers",
        "  ./latentlab sweep report samplers"})
final class SweepCommand implements Callable<Integer> {
  // Optional to picocli: a required positional here is demanded even when a subcommand
  // (sweep status NAME) is given, so `call` checks it instead.
  @Parameters(index = "0", arity = "0..1", paramLabel = "FILE", description = "the sweep file (YAML)")
  Path file;

  @Option(names = "--dry-run", description = "print the plan (trial, axis values, state) and run nothing")
  boolean dryRun;

  @Option(names = "--executor", paramLabel = "local|slurm", defaultValue = "local",
      description = "where trials run: local (this machine; default) or slurm (a job array)")
  String executor;

  @Option(names = "--parallel", paramLabel = "N", defaultValue = "1",
      description = "local: run N trials at once, each in its own worker process (default 1: all in this process)")
  int parallel;

  @Option(names = "--max-parallel", paramLabel = "N",
      description = "slurm: the job array's %%N throttle (default: the sweep file's slurm.max_parallel)")
  Integer maxParallel;

  @Option(names = "--no-wait", description = "slurm: return once the array is submitted")
  boolean noWait;

  @Option(names = "--retry-failed", description = "run failed trials again")
  boolean retryFailed;

  @CommandLine.Mixin
  RunsDirOption runs = new RunsDirOption();

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    CommandLine cli = spec.commandLine();
    PrintWriter out = cli.getOut();
    if (file == null) {
      throw new CommandLine.ParameterException(cli, "Missing required parameter: 'FILE'");
    }
    if (!executor.equals("local") && !executor.equals("slurm")) {
      throw new CommandLine.ParameterException(cli, "--executor must be local or slurm, got '" + executor + "'");
    }
    if (parallel < 1) {
      throw new CommandLine.ParameterException(cli, "--parallel must be >= 1, got " + parallel);
    }
    SweepSpec sweep = new SweepLoader().load(file);
    Path home = Main.home();
    SweepRunner runner = new SweepRunner(home, runs.resolve(), PythonBridge.start(home));
    SweepPlan plan = runner.plan(sweep);
    List<SweepRunner.Row> status = runner.status(plan);
    if (dryRun) {
      printPlan(out, plan, status);
      out.printf("%d trials (%s); sweep directory %s%n", plan.trials().size(), counts(status),
          runner.directoryOf(plan));
      out.flush();
      return 0;
    }
    out.printf("sweep %s: %d trials (%s), %s%n", plan.name(), plan.trials().size(), counts(status),
        runner.directoryOf(plan));
    out.flush();
    SweepExecutor chosen = executor.equals("slurm")
        ? SlurmExecutors.of(home, sweep, maxParallel, !noWait)
        : parallel > 1 ? SweepExecutors.processes(home, parallel)
        : SweepExecutors.local(home, PythonBridge.start(home));
    SweepResults results;
    try (SweepBars bars = new SweepBars(plan.trials().size(), status, cli.getErr())) {
      results = runner.run(plan, chosen, retryFailed, bars);
    }
    List<TrialState> failed = results.inState(TrialState.FAILED);
    out.println(results);
    out.println("report: " + results.directory().resolve("report.md"));
    if (!failed.isEmpty()) {
      PrintWriter err = cli.getErr();
      err.printf("%d trials failed:%n", failed.size());
      for (TrialState trial : failed) {
        err.printf("  %s %s: %s%n", trial.trial(), trial.axes(), trial.error());
      }
      err.println("run again with --retry-failed to retry them; logs: " + results.directory().resolve("logs"));
      err.flush();
      out.flush();
      return Main.EXIT_FAILED;
    }
    out.flush();
    return 0;
  }

  static String counts(List<SweepRunner.Row> status) {
    Map<String, Long> byState = new java.util.TreeMap<>();
    status.forEach(row -> byState.merge(row.state(), 1L, Long::sum));
    List<String> parts = new ArrayList<>();
    byState.forEach((state, n) -> parts.add(n + " " + state));
    return String.join(", ", parts);
  }

  static void printPlan(PrintWriter out, SweepPlan plan, List<SweepRunner.Row> status) {
    List<String> header = new ArrayList<>(List.of("#", "trial"));
    header.addAll(plan.columns().values());
    header.add("state");
    List<List<String>> rows = new ArrayList<>();
    for (SweepRunner.Row row : status) {
      List<String> cells = new ArrayList<>(List.of(Integer.toString(row.trial().index()), row.trial().trial()));
      for (String axis : plan.columns().keySet()) {
        cells.add(String.valueOf(row.trial().axes().get(axis)));
      }
      cells.add(row.state());
      rows.add(cells);
    }
    int[] widths = new int[header.size()];
    for (int i = 0; i < widths.length; i++) {
      widths[i] = header.get(i).length();
      for (List<String> cells : rows) {
        widths[i] = Math.max(widths[i], cells.get(i).length());
      }
    }
    printRow(out, header, widths);
    for (List<String> cells : rows) {
      printRow(out, cells, widths);
    }
  }

  private static void printRow(PrintWriter out, List<String> cells, int[] widths) {
    StringBuilder line = new StringBuilder();
    for (int i = 0; i < cells.size(); i++) {
      line.append(String.format("%-" + widths[i] + "s", cells.get(i))).append(i + 1 < cells.size() ? "  " : "");
    }
    out.println(line.toString().stripTrailing());
  }

  /**
   * A bar for the sweep and one for the running trial; in a log (no console) a line per trial
   * ended instead of the sweep's bar, between the trial's own lines, never inside one.
   */
  private static final class SweepBars implements SweepExecutor.SweepProgress, AutoCloseable {
    private final ProgressBar sweep;
    private final ProgressBars trial = new ProgressBars();
    private final long total;
    private long done;

    /** Where lines about trials go (the command's error stream; the bars draw on stderr). */
    private final PrintWriter messages;

    SweepBars(int total, List<SweepRunner.Row> status, PrintWriter messages) {
      this.messages = messages;
      this.total = total;
      this.done = status.stream().filter(r -> r.state().equals(TrialState.COMPLETED)).count();
      sweep = trial.logs() ? null : new ProgressBarBuilder().setTaskName("sweep     ").setInitialMax(total)
          .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(1000).build();
      if (sweep != null) {
        sweep.stepTo(done);
      }
    }

    @Override
    public void started(SweepPlan.PlannedTrial planned) {
      if (sweep != null) {
        sweep.setExtraMessage("trial " + planned.trial() + " " + planned.axes());
      }
    }

    @Override
    public void ended(SweepPlan.PlannedTrial planned, TrialState state) {
      trial.close();
      done++;
      if (sweep != null) {
        sweep.step();
      } else {
        System.err.printf("sweep: %d/%d trials; trial %s %s %s%n", done, total, planned.trial(),
            planned.axes(), state.state());
        System.err.flush();
      }
      if (state.state().equals(TrialState.FAILED)) {
        messages.printf("%ntrial %s failed: %s%n", planned.trial(), state.error());
        messages.flush();
      }
    }

    @Override
    public void skipped(SweepPlan.PlannedTrial planned, String reason) {
      messages.printf("%ntrial %s skipped: %s%n", planned.trial(), reason);
      messages.flush();
    }

    @Override
    public void waiting(SweepPlan.PlannedTrial planned, String holder) {
      trial.close();
      messages.printf("%n%s; this sweep waits for it after its other trials%n", holder);
      messages.flush();
    }

    @Override
    public void step(String stage, long step, long total, double value) {
      trial.update(stage, step, total, value);
    }

    @Override
    public void close() {
      trial.close();
      if (sweep != null) {
        sweep.close();
      }
    }
  }

  /** {@code latentlab sweep status NAME}. */
  @Command(name = "status", mixinStandardHelpOptions = true,
      header = "Shows each trial of a sweep and the state it is in now.",
      description = "Reads the sweep directory's plan and the run files (and, for a sweep on "
          + "Slurm, the queue) and prints one row per trial.")
  static final class Status implements Callable<Integer> {
    @CommandLine.Mixin
    SweepArgument sweep = new SweepArgument();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      CommandLine cli = spec.commandLine();
      Path directory = sweep.find(cli);
      SweepPlan plan = SweepRunner.readPlan(directory);
      SweepRunner runner = sweep.runner();
      List<SweepRunner.Row> status = runner.status(plan);
      printPlan(cli.getOut(), plan, status);
      cli.getOut().printf("%d trials (%s); %s%n", status.size(), counts(status), directory);
      SlurmExecutors.printQueue(cli.getOut(), directory);
      cli.getOut().flush();
      return 0;
    }
  }

  /** {@code latentlab sweep report NAME}. */
  @Command(name = "report", mixinStandardHelpOptions = true,
      header = "Writes a sweep's report.md and plots from what its trials recorded.",
      description = "The report (plots of quality against NFE and guidance, a heat map of two-axis "
          + "grids, a picture grid of one fixed seed across the sweep, the best trial per metric, "
          + "every trial's overrides) is also refreshed while a sweep runs.")
  static final class Report implements Callable<Integer> {
    @CommandLine.Mixin
    SweepArgument sweep = new SweepArgument();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      CommandLine cli = spec.commandLine();
      Path directory = sweep.find(cli);
      SweepPlan plan = SweepRunner.readPlan(directory);
      SweepRunner runner = sweep.runner();
      Path report = runner.refreshReport(plan, io.latentlab.sweep.SweepDirectory.open(directory));
      cli.getOut().println("report: " + report);
      cli.getOut().flush();
      return 0;
    }
  }

  /** The NAME argument of status and report, with --runs-dir. */
  static final class SweepArgument {
    @Parameters(index = "0", paramLabel = "NAME", description = "the sweep's name or directory")
    String name;

    @CommandLine.Mixin
    RunsDirOption runs = new RunsDirOption();

    /** A runner over the runs root that reads sweeps (no Python). */
    SweepRunner runner() {
      return new SweepRunner(Main.home(), runs.resolve(), null);
    }

    /** The sweep directory NAME names; a usage error if none. */
    Path find(CommandLine cli) {
      try {
        return runner().findSweep(name);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(cli, e.getMessage());
      }
    }
  }

}
