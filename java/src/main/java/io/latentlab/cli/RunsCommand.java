package io.latentlab.cli;

import io.latentlab.store.RunStore;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code latentlab runs}: every run, as a table. */
@Command(
    name = "runs",
    mixinStandardHelpOptions = true,
    description = {"Lists the runs under the runs directory: experiment, trial, status (completed,",
        "incomplete, failed), times, git commit, key metrics and path. Read straight from the",
        "run files by DuckDB, so it is always current, even while runs are being written."},
    footer = {"", "Examples:",
        "  ./latentlab runs",
        "  ./latentlab runs --experiment quickstart --status completed"})
final class RunsCommand implements Callable<Integer> {
  @Option(names = "--experiment", paramLabel = "NAME", description = "only this experiment")
  String experiment;

  @Option(names = "--status", paramLabel = "STATUS", description = "only completed, incomplete or failed runs")
  String status;

  @CommandLine.Mixin
  RunsDirOption runs = new RunsDirOption();

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    try (RunStore store = RunStore.open(runs.resolve())) {
      spec.commandLine().getOut().print(store.runs(experiment, status).render());
      spec.commandLine().getOut().flush();
      return 0;
    }
  }
}
