package io.latentlab.cli;

import io.latentlab.lab.TensorBoardServer;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.execute.SweepRunner;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code latentlab tensorboard [RUNS_DIR | --sweep NAME]}: TensorBoard over the runs' events. */
@Command(
    name = "tensorboard",
    mixinStandardHelpOptions = true,
    header = "Serves the runs' TensorBoard events on a free local port until Ctrl-C.",
    description = {
        "Every training run writes TensorBoard events into its directory (tensorboard/): the "
            + "losses, learning rate and steps per second of each stage, the sample grid, the "
            + "resolved config, and the trial's hyperparameters with its final metrics (the "
            + "HParams tab compares a sweep's trials).",
        "Serves RUNS_DIR (default: the runs folder), or the trials of one training sweep, "
            + "on 127.0.0.1, and prints the address."},
    footer = {"", "Examples:",
        "  ./latentlab tensorboard",
        "  ./latentlab tensorboard --sweep lr-grid",
        "  ./latentlab tensorboard /shared/runs/mnist-ldm"})
final class TensorBoardCommand implements Callable<Integer> {
  @Parameters(index = "0", arity = "0..1", paramLabel = "RUNS_DIR",
      description = "a folder of runs, or one run (default: the runs folder)")
  Path folder;

  @Option(names = "--sweep", paramLabel = "NAME", description = "only the trials of this training sweep")
  String sweep;

  @CommandLine.Mixin
  RunsDirOption runs = new RunsDirOption();

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws InterruptedException {
    PrintWriter out = spec.commandLine().getOut();
    Path home = Main.home();
    Path root = runs.resolve();
    Path log = root.resolve(".tensorboard.log");
    TensorBoardServer server;
    if (sweep != null) {
      if (folder != null) {
        throw new CommandLine.ParameterException(spec.commandLine(),
            "give RUNS_DIR or --sweep, not both");
      }
      SweepRunner runner = new SweepRunner(home, root, null);
      Path directory;
      try {
        directory = runner.findSweep(sweep);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
      }
      SweepPlan plan = SweepRunner.readPlan(directory);
      Map<String, Path> trials = new LinkedHashMap<>();
      for (SweepPlan.PlannedTrial trial : plan.trials()) {
        Path events = trial.directory() == null ? null : trial.directory().resolve("tensorboard");
        if (events != null && Files.isDirectory(events)) {
          trials.put(trial.trial().substring(0, Math.min(12, trial.trial().length())), events);
        }
      }
      server = TensorBoardServer.start(home, trials, log);
      out.printf("TensorBoard: %s (%d trial(s) of sweep %s); Ctrl-C stops it%n", server.address(),
          trials.size(), plan.name());
    } else {
      Path served = folder != null ? folder : root;
      server = TensorBoardServer.start(home, served, log);
      out.printf("TensorBoard: %s (runs under %s); Ctrl-C stops it%n", server.address(), served);
    }
    out.flush();
    try {
      return server.waitFor() == 0 ? 0 : Main.EXIT_FAILED;
    } finally {
      server.close();
    }
  }
}
