package io.latentlab.cli;

import io.latentlab.lab.ProgressBars;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.run.RunClaimedException;
import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.TrialState;
import io.latentlab.sweep.execute.SweepRunner;
import io.latentlab.sweep.execute.TrialRunner;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code latentlab sweep-task SWEEP_DIR INDEX}: runs one trial of a planned sweep, as worker
 * processes and Slurm array tasks do. Exit 0 completed, 1 failed, 3 running elsewhere.
 */
@Command(name = "sweep-task", hidden = true, mixinStandardHelpOptions = true,
    header = "Runs one trial of a planned sweep (what worker processes and Slurm tasks run).")
final class SweepTaskCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "SWEEP_DIR", description = "the sweep directory")
  Path directory;

  @Parameters(index = "1", paramLabel = "INDEX", description = "the trial's index in the plan")
  int index;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    CommandLine cli = spec.commandLine();
    SweepPlan plan;
    try {
      plan = SweepRunner.readPlan(directory);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(cli, e.getMessage());
    }
    if (index < 0 || index >= plan.trials().size()) {
      throw new CommandLine.ParameterException(cli, "INDEX must be in [0, " + plan.trials().size()
          + "), got " + index);
    }
    SweepPlan.PlannedTrial trial = plan.trials().get(index);
    Path home = Main.home();
    cli.getOut().printf("sweep %s, trial %s %s%n", plan.name(), trial.trial(), trial.axes());
    cli.getOut().flush();
    TrialState state;
    try (ProgressBars bars = new ProgressBars()) {
      state = TrialRunner.run(home, () -> PythonBridge.start(home), plan, SweepDirectory.open(directory),
          trial, bars);
    } catch (RunClaimedException e) {
      cli.getErr().println(e.getMessage());
      return Main.EXIT_RUNNING_ELSEWHERE;
    }
    cli.getOut().printf("trial %s %s%s%n", trial.trial(), state.state(),
        state.error() == null ? "" : ": " + state.error());
    cli.getOut().flush();
    return state.state().equals(TrialState.COMPLETED) ? 0 : Main.EXIT_FAILED;
  }
}
