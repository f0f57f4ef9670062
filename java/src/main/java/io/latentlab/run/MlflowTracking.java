package io.latentlab.run;

import com.fasterxml.jackson.databind.JsonNode;
import io.latentlab.bridge.CallInterruptedException;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.config.TrackingConfig;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A run's and a sweep's MLflow runs, when an MLflow server is asked for (the config's
 * {@code tracking.mlflow}, else {@code MLFLOW_TRACKING_URI}). The work is Python's
 * ({@code latentlab.mlflow_log}, through MLflow's own client); this class says when: a run's
 * MLflow run opens with its directory and ends once its files exist; a sweep's opens before its
 * trials, which become its children, and ends after them. Tracking never costs a result: a
 * server that is down or refuses is one warning and {@code mlflow.json} says {@code unsent};
 * {@code latentlab track sync} sends it afterwards.
 */
public final class MlflowTracking {
  /** The record of a run's or a sweep's MLflow run, beside its other files. */
  public static final String FILE = "mlflow.json";

  /**
   * The sweep a trial's MLflow run is a child of.
   *
   * @param runId the sweep's MLflow run id, or null if it has none (its trials log alone)
   * @param sweep the sweep's name (a tag of each trial's run)
   */
  public record Parent(String runId, String sweep) {
    /** No sweep: a run of its own. */
    public static final Parent NONE = new Parent(null, null);
  }

  private MlflowTracking() {}

  /** The config's {@code tracking.mlflow}, or null (then MLflow's environment decides). */
  public static String configured(ExperimentConfig config) {
    TrackingConfig tracking = config.tracking();
    return tracking == null ? null : tracking.mlflow();
  }

  /** Whether a run of {@code config} is tracked in MLflow (from its config or environment). */
  public static boolean wanted(ExperimentConfig config) {
    String env = System.getenv("MLFLOW_TRACKING_URI");
    return configured(config) != null || (env != null && !env.isBlank());
  }

  /** Opens the trial's MLflow run as its directory is created; quiet without a server. */
  static void start(PythonBridge bridge, Path runDir, Trial trial, Parent parent) {
    if (!wanted(trial.config())) {
      return;
    }
    quietly(() -> bridge.callForString("mlflow_start", runDir.toString(), trial.canonicalJson(),
        trial.id().shortId(), configured(trial.config()), parent.runId(), parent.sweep()));
  }

  /** Ends the trial's MLflow run ({@code FINISHED}, {@code FAILED}, {@code KILLED}). */
  static void finish(PythonBridge bridge, Path runDir, Trial trial, String status) {
    if (!Files.isRegularFile(runDir.resolve(FILE))) {
      return;
    }
    quietly(() -> bridge.callForString("mlflow_finish", runDir.toString(),
        configured(trial.config()), status));
  }

  /**
   * The parent run of a sweep's trials, recorded in the sweep's directory by
   * {@link #startSweep}; {@link Parent#NONE}'s run id if it has none.
   */
  public static Parent parentOf(Path sweepDirectory, String sweep) {
    JsonNode state = read(sweepDirectory);
    String runId = state != null && state.hasNonNull("run_id") ? state.get("run_id").asText() : null;
    return new Parent(runId, sweep);
  }

  /** Opens a sweep's MLflow run, the parent of its trials' runs, if a server is asked for. */
  public static void startSweep(PythonBridge bridge, Path sweepDirectory, ExperimentConfig base,
      String sweep) {
    if (wanted(base)) {
      quietly(() -> bridge.callForString("mlflow_start_sweep", sweepDirectory.toString(),
          base.name(), sweep, configured(base)));
    }
  }

  /** Ends a sweep's MLflow run with its results as artifacts. */
  public static void finishSweep(PythonBridge bridge, Path sweepDirectory, ExperimentConfig base,
      boolean failed) {
    if (Files.isRegularFile(sweepDirectory.resolve(FILE))) {
      quietly(() -> bridge.callForString("mlflow_finish_sweep", sweepDirectory.toString(),
          configured(base), failed));
    }
  }

  /**
   * Sends a run that ended to MLflow, filling what the server lacks ({@code track sync}).
   *
   * @param uri the server, or null for the config's, the environment's, or the recorded one
   * @return the run's MLflow record ({@code run_id}, {@code state}, {@code metrics_sent_at_end})
   * @throws io.latentlab.bridge.PythonException if the server cannot be reached or refuses
   */
  public static JsonNode sync(PythonBridge bridge, Path runDir, String canonicalJson,
      String trial, String uri, Parent parent) {
    return RunArtifacts.readJson(bridge.callForString("mlflow_sync", runDir.toString(),
        canonicalJson, trial, uri, parent.runId(), parent.sweep()));
  }

  /** The MLflow run id recorded in a run's or sweep's directory, or null. */
  public static String runId(Path directory) {
    JsonNode state = read(directory);
    return state != null && state.hasNonNull("run_id") ? state.get("run_id").asText() : null;
  }

  private static JsonNode read(Path directory) {
    Path file = directory.resolve(FILE);
    if (!Files.isRegularFile(file)) {
      return null;
    }
    try {
      return RunArtifacts.readJson(Files.readString(file));
    } catch (java.io.IOException | RuntimeException e) {
      return null; // unreadable: as if absent; track sync writes it again
    }
  }

  /** Python already warned about the server; a failure of the call itself is warned here. */
  private static void quietly(Runnable call) {
    try {
      call.run();
    } catch (CallInterruptedException e) {
      throw e;
    } catch (RuntimeException e) {
      System.err.println("latentlab: warning: MLflow tracking failed: " + e.getMessage()
          + "; the run goes on without it");
    }
  }
}
