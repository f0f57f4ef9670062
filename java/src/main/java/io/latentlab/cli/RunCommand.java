package io.latentlab.cli;

import io.latentlab.lab.ProgressBars;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.run.RunDirectory;
import io.latentlab.run.RunResult;
import io.latentlab.run.SlurmRun;
import io.latentlab.run.Trial;
import io.latentlab.run.TrialExecutor;
import io.latentlab.run.TrialPlanner;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
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
            + "running is not started twice: the second exits with code 3.",
        "--executor slurm submits the run as one Slurm job of --nodes × --tasks-per-node JAX "
            + "processes and waits for it with its progress (--no-wait: returns once submitted); "
            + "the job's batch step runs this command on the first node and starts the "
            + "processes with srun. Exit codes are the job's: 0 completed, 1 failed, 3 running "
            + "elsewhere; 2 for a job Slurm refuses."},
    footer = {"", "Examples:",
        "  ./latentlab run experiments/quickstart.yaml",
        "  ./latentlab run experiments/quickstart.yaml train.unet.steps=500 sample.sampler=heun",
        "  ./latentlab run experiments/quickstart.yaml --rerun",
        "  ./latentlab run experiments/quickstart.yaml --replicate 1",
        "  XLA_FLAGS=--xla_force_host_platform_device_count=4 ./latentlab run experiments/tiny.yaml --processes 2",
        "  ./latentlab run experiments/quickstart.yaml --executor slurm --nodes 2 --tasks-per-node 4 --gpus-per-task 1 --time 2:00:00",
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

  @Option(names = "--executor", paramLabel = "NAME", defaultValue = "local",
      description = "local (this host; default) or slurm (one Slurm job, see below)")
  String executor;

  @Option(names = "--nodes", paramLabel = "N", description = "slurm: nodes of the job (default 1)")
  Integer nodes;

  @Option(names = "--tasks-per-node", paramLabel = "M",
      description = "slurm: JAX processes per node (default 1, or --processes / --nodes)")
  Integer tasksPerNode;

  @Option(names = "--gpus-per-task", paramLabel = "G", description = "slurm: GPUs per process")
  Integer gpusPerTask;

  @Option(names = "--partition", paramLabel = "P", description = "slurm: the partition (default: the cluster's)")
  String partition;

  @Option(names = "--time", paramLabel = "T", description = "slurm: the job's time limit, e.g. 2:00:00")
  String time;

  @Option(names = "--no-wait", description = "slurm: return once the job is submitted")
  boolean noWait;

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
    SlurmRun.Resources resources = slurmResources();
    if (resources != null) {
      processes = resources.processes();
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
    if (resources != null) {
      return onSlurm(trial, resources, out, err);
    }
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

  /** The Slurm job's shape, or null for a local run; slurm's options elsewhere: exit 2. */
  private SlurmRun.Resources slurmResources() {
    if (!executor.equals("local") && !executor.equals("slurm")) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--executor: expected local or slurm, got '" + executor + "'");
    }
    if (executor.equals("local")) {
      for (Object[] option : new Object[][] {{"--nodes", nodes}, {"--tasks-per-node", tasksPerNode},
          {"--gpus-per-task", gpusPerTask}, {"--partition", partition}, {"--time", time},
          {"--no-wait", noWait ? true : null}}) {
        if (option[1] != null) {
          throw new CommandLine.ParameterException(spec.commandLine(), option[0]
              + " is an option of --executor slurm; add --executor slurm, or leave it out");
        }
      }
      return null;
    }
    int n = nodes == null ? 1 : nodes;
    int perNode = tasksPerNode != null ? tasksPerNode
        : processes == null || n < 1 ? 1 : processes / n;
    SlurmRun.Resources resources;
    try {
      resources = new SlurmRun.Resources(n, perNode, gpusPerTask, partition, time);
    } catch (IllegalArgumentException e) { // the counts, checked by the record
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
    if (processes != null && processes != resources.processes()) {
      throw new CommandLine.ParameterException(spec.commandLine(), String.format(
          "--processes %d is not --nodes %d × --tasks-per-node %d; give --nodes and "
              + "--tasks-per-node alone", processes, n, perNode));
    }
    return resources;
  }

  /** Submits the trial as one Slurm job and, unless --no-wait, waits for it. */
  private int onSlurm(Trial trial, SlurmRun.Resources resources, PrintWriter out,
      PrintWriter err) {
    java.util.Optional<RunResult> done = SlurmRun.completed(trial, true);
    if (!rerun && done.isPresent()) {
      out.println("nothing was submitted");
      report(out, done.get());
      return 0;
    }
    // A job whose batch step would only find the trial claimed is not submitted. (One that
    // starts while another still runs it exits 3 the same way.)
    // (No claim file yet: nobody has ever claimed it, and probing would write one.)
    try (io.latentlab.run.RunClaim probe = java.nio.file.Files.exists(
        io.latentlab.run.RunClaim.fileOf(trial.directory()))
        ? io.latentlab.run.RunClaim.acquire(trial.directory()) : null) {
      // free now
    } catch (io.latentlab.run.RunClaimedException e) {
      err.println(e.getMessage() + "; nothing was submitted");
      return Main.EXIT_RUNNING_ELSEWHERE;
    }
    java.util.List<String> arguments = new java.util.ArrayList<>();
    arguments.add(configFile.toAbsolutePath().normalize().toString());
    arguments.addAll(overrides);
    arguments.addAll(java.util.List.of("--runs-dir", runs.resolve().toAbsolutePath().toString(),
        "--replicate", Integer.toString(replicate)));
    if (rerun) {
      arguments.add("--rerun");
    }
    SlurmRun slurm = new SlurmRun(Main.home(), java.util.Map.of(),
        java.time.Duration.ofSeconds(2));
    SlurmRun.Job job;
    try {
      job = slurm.submit(trial, arguments, resources);
    } catch (io.latentlab.slurm.SlurmException e) {
      err.printf("run: Slurm refused the job (--nodes %d, --tasks-per-node %d%s%s%s): %s; "
              + "check those options against sinfo%n", resources.nodes(), resources.tasksPerNode(),
          gpusPerTask == null ? "" : ", --gpus-per-task " + gpusPerTask,
          partition == null ? "" : ", --partition " + partition,
          time == null ? "" : ", --time " + time, e.getMessage());
      return Main.EXIT_USAGE;
    } catch (IllegalStateException e) { // Slurm is not installed
      err.println(e.getMessage());
      return Main.EXIT_FAILED;
    }
    out.printf("submitted as Slurm job %s: %d process(es) on %d node(s); its log: %s%n",
        job.id(), resources.processes(), resources.nodes(), job.log());
    out.flush();
    if (noWait) {
      out.printf("follow it with: squeue --jobs %s, and ./latentlab show %s once it runs%n",
          job.id(), trial.id().shortId());
      return 0;
    }
    SlurmRun.Ended ended;
    try (ProgressBars bars = new ProgressBars()) {
      ended = slurm.await(trial, job, bars, state -> {
        out.printf("Slurm job %s: %s%n", job.id(), state);
        out.flush();
      });
    }
    if (ended.exitCode() == SlurmRun.CLAIMED_ELSEWHERE) {
      err.println("trial " + trial.id().shortId() + " was running in another process when the "
          + "job started; the job left it alone (exit 3)");
      return Main.EXIT_RUNNING_ELSEWHERE;
    }
    done = SlurmRun.completed(trial, false);
    if (ended.exitCode() == 0 && done.isPresent()) {
      report(out, done.get());
      return 0;
    }
    String error = SlurmRun.recordedError(trial);
    err.printf("run failed: %sSlurm job %s ended %s (exit %d); its log: %s%n",
        error.isEmpty() ? "" : error + "; ", job.id(), ended.state(), ended.exitCode(), job.log());
    return Main.EXIT_FAILED;
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
    if (result.result().get("text_model") instanceof Map<?, ?> model) {
      out.println("model:      " + model.get("path") + " (sample it: ./latentlab sample "
          + model.get("path") + " --prompt \"...\")");
    }
    out.flush();
  }
}
