package io.latentlab.sweep.execute;

import com.fasterxml.jackson.databind.JsonNode;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.run.MlflowTracking;
import io.latentlab.run.RunDirectory;
import io.latentlab.sweep.SweepPlan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Sends runs that ended to an MLflow server afterwards ({@code latentlab track sync}): a run
 * whose server was down, a run made before tracking was asked for, a sweep's trials under their
 * sweep's run. Only what the server lacks is sent, so syncing again sends nothing twice; the
 * MLflow run id is recorded in the run's {@code mlflow.json}, where the store reads it.
 */
public final class MlflowSync {
  /**
   * One run sent.
   *
   * @param run its directory
   * @param trial its trial id (the MLflow run's name)
   * @param runId the MLflow run id
   * @param metrics how many metric values were sent now (0 when the server had them all)
   */
  public record Sent(Path run, String trial, String runId, int metrics) {}

  private final Path home;
  private final ConfigLoader loader = new ConfigLoader();

  /** @param home the project root */
  public MlflowSync(Path home) {
    this.home = home.toAbsolutePath().normalize();
  }

  /**
   * Sends one run.
   *
   * @param uri the server; null for the run's config's, else {@code MLFLOW_TRACKING_URI}, else
   *     the one it was sent to before
   * @throws IllegalArgumentException if no server is named anywhere, or the directory is not a run
   * @throws PythonException if the server cannot be reached or refuses (one line)
   */
  public Sent run(Path runDir, String uri) {
    return send(runDir, uri, MlflowTracking.Parent.NONE);
  }

  /**
   * Sends a training sweep: its own run, then each trial that has a run directory as its
   * child.
   *
   * @throws IllegalArgumentException for a sampling sweep (its cells are no training runs)
   */
  public List<Sent> sweep(Path runsRoot, String name, String uri) {
    SweepRunner runner = new SweepRunner(home, runsRoot, null);
    Path directory = runner.findSweep(name);
    SweepPlan plan = SweepRunner.readPlan(directory);
    if (plan.spec().sampling() || plan.spec().prompts()) {
      throw new IllegalArgumentException("sweep " + plan.name() + " is a " + plan.kind() + " sweep: its "
          + "cells are not training runs, so there is nothing to send"
          + (plan.spec().sampling() ? "; sync the runs it sampled instead" : ""));
    }
    ExperimentConfig base = loader.load(plan.spec().base());
    String chosen = uri != null ? uri : MlflowTracking.configured(base);
    JsonNode parent = json(bridge().callForString("mlflow_start_sweep", directory.toString(),
        base.name(), plan.name(), chosen));
    if (parent.path("state").asText().equals("unsent") || parent.path("run_id").isMissingNode()) {
      throw new IllegalArgumentException("sweep " + plan.name() + ": " + parent.path("error")
          .asText("no MLflow server: give --mlflow URI or set MLFLOW_TRACKING_URI"));
    }
    MlflowTracking.Parent link = new MlflowTracking.Parent(parent.get("run_id").asText(),
        plan.name());
    List<Sent> sent = new ArrayList<>();
    boolean incomplete = false;
    for (SweepPlan.PlannedTrial trial : plan.trials()) {
      if (trial.directory() != null && Files.isRegularFile(
          trial.directory().resolve(RunDirectory.PROVENANCE))) {
        sent.add(send(trial.directory(), chosen, link));
      }
      incomplete |= trial.directory() == null
          || !Files.isRegularFile(trial.directory().resolve(RunDirectory.RESULT));
    }
    if (!incomplete) {
      bridge().callForString("mlflow_finish_sweep", directory.toString(), chosen, false);
    }
    return sent;
  }

  private Sent send(Path runDir, String uri, MlflowTracking.Parent parent) {
    Path config = runDir.resolve(RunDirectory.CONFIG);
    if (!Files.isRegularFile(config) || !Files.isRegularFile(runDir.resolve(RunDirectory.PROVENANCE))) {
      throw new IllegalArgumentException(runDir + " is not a run directory (no " + RunDirectory.CONFIG
          + " and " + RunDirectory.PROVENANCE + ")");
    }
    ExperimentConfig resolved = loader.load(config);
    String trial = runDir.getFileName().toString().replaceFirst("\\.replaced-.*$", "");
    String chosen = uri != null ? uri : MlflowTracking.configured(resolved);
    JsonNode state;
    try {
      state = MlflowTracking.sync(bridge(), runDir, loader.canonicalJson(resolved), trial, chosen,
          parent);
    } catch (PythonException e) {
      if ("ValueError".equals(e.pythonType())) {
        throw new IllegalArgumentException(runDir + ": " + e.pythonMessage());
      }
      throw e;
    }
    return new Sent(runDir, trial, state.path("run_id").asText(),
        state.path("metrics_sent_at_end").asInt());
  }

  private PythonBridge bridge() {
    return PythonBridge.start(home);
  }

  private static JsonNode json(String text) {
    try {
      return new com.fasterxml.jackson.databind.ObjectMapper().readTree(text);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("Python returned malformed JSON", e);
    }
  }
}
