package io.latentlab.cli;

import io.latentlab.bridge.PythonException;
import io.latentlab.lab.UsageException;
import io.latentlab.sweep.execute.MlflowSync;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code latentlab track sync RUN | --sweep NAME}: sends runs to MLflow afterwards. */
@Command(
    name = "track",
    mixinStandardHelpOptions = true,
    header = "Sends runs to an MLflow tracking server after they ended.",
    description = {
        "A run whose config has tracking.mlflow, or started with MLFLOW_TRACKING_URI set, logs "
            + "itself to that MLflow server as it trains: its resolved config as parameters, its "
            + "losses per step, its final metrics, samples.png, result.json, config.yaml and "
            + "provenance.json as artifacts, and tags (trial id, git commit, sweep). A server "
            + "that is down or refuses costs one warning, never the run.",
        "'track sync' sends such a run afterwards, or any finished run: only what the server "
            + "lacks is sent, so it can be repeated. Credentials come only from MLflow's "
            + "environment (MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or "
            + "MLFLOW_TRACKING_TOKEN)."},
    subcommands = {TrackCommand.Sync.class},
    footer = {"", "Examples:",
        "  ./latentlab track sync f11618248513",
        "  ./latentlab track sync --sweep lr-grid --mlflow http://mlflow.lab.example:5000"})
final class TrackCommand implements Runnable {
  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: sync");
  }

  /** {@code track sync}. */
  @Command(name = "sync", mixinStandardHelpOptions = true,
      description = {"Sends RUN (a run directory or the start of its trial id), or every trial "
          + "of a training sweep under the sweep's own run, to MLflow. The server is --mlflow, "
          + "else the run's tracking.mlflow, else MLFLOW_TRACKING_URI, else the server it was "
          + "sent to before."})
  static final class Sync implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", paramLabel = "RUN",
        description = "a run directory, or the start of its trial id")
    String run;

    @Option(names = "--sweep", paramLabel = "NAME", description = "every trial of this training sweep")
    String sweep;

    @Option(names = "--mlflow", paramLabel = "URI",
        description = "the MLflow server (default: the config's, then MLFLOW_TRACKING_URI)")
    String uri;

    @CommandLine.Mixin
    RunsDirOption runs = new RunsDirOption();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      CommandLine cli = spec.commandLine();
      if ((run == null) == (sweep == null)) {
        throw new UsageException("give a RUN or --sweep NAME");
      }
      if (uri != null && java.net.URI.create(uri.strip()).getRawUserInfo() != null) {
        throw new UsageException("--mlflow: the address holds a user name or password; set "
            + "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead");
      }
      MlflowSync sync = new MlflowSync(Main.home());
      List<MlflowSync.Sent> sent;
      try {
        sent = sweep != null ? sync.sweep(runs.resolve(), sweep, uri)
            : List.of(sync.run(Main.findRun(cli, run, runs.resolve()), uri));
      } catch (IllegalArgumentException e) {
        throw new UsageException(e.getMessage());
      } catch (PythonException e) {
        return Main.failed(cli, "sending to MLflow", e);
      }
      PrintWriter out = cli.getOut();
      for (MlflowSync.Sent one : sent) {
        out.printf("%s  MLflow run %s  %d metric value(s) sent%n", one.trial(), one.runId(),
            one.metrics());
      }
      out.printf("%d run(s) in MLflow%n", sent.size());
      out.flush();
      return 0;
    }
  }
}
