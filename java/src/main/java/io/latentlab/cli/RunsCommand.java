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
    // The first line is what 'latentlab --help' lists. Each element is one paragraph: picocli
    // wraps it itself, so a hard-broken line would end up cut mid-sentence.
    description = {"Lists the runs under the runs directory.",
        "One row per run: experiment, trial, status, times, git commit, key metrics, problem and "
            + "path. Read straight from the run files by DuckDB, so it is always current, even "
            + "while runs are being written.",
        "Status is completed, incomplete (still running, or killed: it resumes when run again), "
            + "failed, corrupt (a run file is damaged; problem names it, and query's other views "
            + "leave that file out) or replaced (the earlier run that 'run --rerun' kept as "
            + "<trial>.replaced-<time>). Replaced runs are history, so they are listed only with "
            + "--all or --status replaced."},
    footer = {"", "Examples:",
        "  ./latentlab runs",
        "  ./latentlab runs --experiment quickstart --status completed",
        "  ./latentlab runs --all"})
final class RunsCommand implements Callable<Integer> {
  @Option(names = "--experiment", paramLabel = "NAME", description = "only this experiment")
  String experiment;

  @Option(names = "--status", paramLabel = "STATUS",
      description = "only runs with this status: completed, incomplete, failed, corrupt or replaced")
  String status;

  @Option(names = "--all", description = "also the runs that a rerun replaced")
  boolean all;

  @CommandLine.Mixin
  RunsDirOption runs = new RunsDirOption();

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    if (status != null && !RunStore.STATUSES.contains(status)) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--status " + status
          + " is not a status; give one of " + String.join(", ", RunStore.STATUSES));
    }
    try (RunStore store = RunStore.open(runs.resolve())) {
      spec.commandLine().getOut().print(store.runs(experiment, status, all).render());
      spec.commandLine().getOut().flush();
      return 0;
    }
  }
}
