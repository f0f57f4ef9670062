package io.latentlab.cli;

import io.latentlab.lab.ProgressBars;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.run.RunDirectory;
import io.latentlab.run.RunResult;
import io.latentlab.run.Trial;
import io.latentlab.run.TrialExecutor;
import io.latentlab.run.TrialPlanner;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code latentlab run CONFIG}: one trial of an experiment. */
@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    header = "Trains and samples one trial of an experiment.",
    description = {
        "Trains and samples the experiment in CONFIG and writes runs/<experiment>/<trial-id>/: "
            + "config.yaml, provenance.json, metrics.jsonl, samples.png, latents.arrow, "
            + "checkpoint/, and result.json last.",
        "Overrides (key.path=value) apply after the file and its 'extends:' chain, and are part "
            + "of the trial's identity. A trial that already completed is reported, not rerun. "
            + "A run that was killed resumes from its last checkpoint when run again; one stopped "
            + "by Ctrl-C or SIGTERM is recorded 'interrupted'. A trial that another process is "
            + "running is not started twice: the second exits with code 3."},
    footer = {"", "Examples:",
        "  ./latentlab run experiments/quickstart.yaml",
        "  ./latentlab run experiments/quickstart.yaml train.unet.steps=500 sample.sampler=heun",
        "  ./latentlab run experiments/quickstart.yaml --rerun",
        "  ./latentlab run experiments/quickstart.yaml --replicate 1",
        "  XLA_FLAGS=--xla_force_host_platform_device_count=4 ./latentlab run experiments/tiny.yaml --processes 2",
        "  ./latentlab run experiments/quickstart.yaml --runs-dir /tmp/my-runs"})
final class RunCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "CONFIG", description = "the experiment's YAML file")
  Path configFile;

  @Parameters(index = "1..*", paramLabel = "OVERRIDE",
      description = "key.path=value, applied after the file, e.g. train.unet.steps=500")
  java.util.List<String> overrides = new java.util.ArrayList<>();

  @CommandLine.Mixin
  RunsDirOption runs = new RunsDirOption();

  @Option(names = "--replicate", paramLabel = "N", defaultValue = "0",
      description = "replicate N of the config: same config, other randomness, its own trial (default 0)")
  int replicate;

  @Option(names = "--rerun", description = "run a trial that already completed again; the earlier run directory is kept, renamed <trial>.replaced-<time>")
  boolean rerun;

  @Option(names = "--processes", paramLabel = "N",
      description = "train over N JAX processes on this host, each with its share of its devices "
          + "(sets execution.processes; not part of the trial id)")
  Integer processes;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Path home = Main.home();
    if (replicate < 0) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--replicate must be >= 0, got " + replicate);
    }
    if (processes != null && processes < 1) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--processes must be >= 1, got " + processes);
    }
    java.util.List<String> all = new java.util.ArrayList<>(overrides);
    if (processes != null) {
      all.add("execution.processes=" + processes);
    }
    ExperimentConfig config = new ConfigLoader().load(configFile, all);
    PythonBridge bridge;
    try {
      bridge = PythonBridge.start(home);
    } catch (IllegalStateException e) {
      err.println(e.getMessage());
      return Main.EXIT_FAILED;
    }
    Trial trial = new TrialPlanner(runs.resolve(), bridge).plan(configFile, config, replicate);
    out.printf("experiment %s, trial %s%n", trial.config().name(), trial.id().shortId());
    out.flush();
    RunResult result;
    try (ProgressBars bars = new ProgressBars()) {
      result = TrialExecutor.inProcess(home, bridge).execute(trial, bars, rerun);
    } catch (PythonException e) {
      err.println("run failed: " + e.getMessage());
      err.println(e.traceback());
      err.println("the run directory keeps what was written: " + trial.directory());
      return Main.EXIT_FAILED;
    } catch (io.latentlab.run.ProcessFailedException e) { // of a multi-process run
      err.println("run failed: " + e.getMessage());
      err.println("the run directory keeps what was written: " + trial.directory());
      return Main.EXIT_FAILED;
    } catch (java.io.UncheckedIOException e) {
      err.println("run failed: " + e.getMessage() + ": " + e.getCause().getMessage());
      err.println("the run directory keeps what was written: " + trial.directory());
      return Main.EXIT_FAILED;
    }
    report(out, result);
    return 0;
  }

  private static void report(PrintWriter out, RunResult result) {
    if (result.reused()) {
      out.println("already completed; nothing was rerun");
    }
    result.metrics().forEach((name, value) -> out.printf("  %-22s %s%n", name, value));
    Path dir = result.directory();
    out.println("samples:    " + dir.resolve("samples.png"));
    out.println("latents:    " + dir.resolve("latents.arrow"));
    out.println("provenance: " + dir.resolve(RunDirectory.PROVENANCE));
    out.println("result:     " + dir.resolve(RunDirectory.RESULT));
    out.flush();
  }
}
