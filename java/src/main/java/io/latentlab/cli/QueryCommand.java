package io.latentlab.cli;

import io.latentlab.store.RunStore;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code latentlab query SQL}: SQL over the run files. */
@Command(
    name = "query",
    mixinStandardHelpOptions = true,
    // The first line is what 'latentlab --help' lists. Each element is one paragraph: picocli
    // wraps it itself, so a hard-broken line would end up cut mid-sentence.
    description = {"Runs a SQL query (DuckDB) over the run files.",
        "Views: runs (one row per run, as 'latentlab runs --all' lists them), provenance "
            + "(provenance.json), results (result.json), metrics (each line of "
            + "each run's metrics.jsonl, with its filename) and sweeps (one row per sweep trial: sweep, "
            + "trial, kind, state, error, attempts, updated_at, directory, then a column per axis and "
            + "per metric). A damaged file shows its run as corrupt in runs and is left out of the "
            + "other views. Prints a table, or writes CSV or Parquet.",
        "The store is read-only: only queries run (SELECT, WITH, FROM, VALUES, SHOW, DESCRIBE, "
            + "SUMMARIZE, EXPLAIN), one at a time, and they read files under the runs directory "
            + "only. Anything else is refused with exit code 2."},
    footer = {"", "Examples:",
        "  ./latentlab query \"SELECT experiment, count(*) FROM runs GROUP BY experiment\"",
        "  ./latentlab query \"SELECT stage, min(loss) FROM metrics GROUP BY stage\"",
        "  ./latentlab query \"SELECT sampler, steps, fid FROM sweeps WHERE sweep = 'samplers'\"",
        "  ./latentlab query \"SELECT * FROM runs\" --parquet runs.parquet"})
final class QueryCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "SQL", description = "the query")
  String sql;

  @Option(names = "--csv", paramLabel = "FILE", description = "write the result as CSV (with a header) instead of printing it")
  Path csv;

  @Option(names = "--parquet", paramLabel = "FILE", description = "write the result as Parquet instead of printing it")
  Path parquet;

  @CommandLine.Mixin
  RunsDirOption runs = new RunsDirOption();

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    if (csv != null && parquet != null) {
      throw new CommandLine.ParameterException(spec.commandLine(), "give --csv or --parquet, not both");
    }
    try (RunStore store = RunStore.open(runs.resolve())) {
      if (csv != null || parquet != null) {
        Path file = csv != null ? csv : parquet;
        store.export(sql, file, csv != null ? RunStore.Format.CSV : RunStore.Format.PARQUET);
        spec.commandLine().getOut().println("wrote " + file.toAbsolutePath().normalize());
      } else {
        spec.commandLine().getOut().print(store.query(sql).render());
      }
      spec.commandLine().getOut().flush();
      return 0;
    } catch (IllegalArgumentException e) {
      spec.commandLine().getErr().println("query: " + e.getMessage());
      return Main.EXIT_USAGE;
    }
  }
}
