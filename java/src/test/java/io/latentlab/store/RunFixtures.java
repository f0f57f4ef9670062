package io.latentlab.store;

import io.latentlab.config.TrialId;
import io.latentlab.run.RunDirectory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Run directories laid out as {@code ExperimentRunner} lays them out, written through the real
 * {@link RunDirectory}, for the store's tests and the tests of the commands that read runs.
 */
public final class RunFixtures {
  private RunFixtures() {}

  /** The trial id of the fixture run {@code index} of an experiment. */
  public static TrialId trialId(String experiment, int index) {
    return TrialId.of("{\"name\":\"" + experiment + "\",\"i\":" + index + "}", 0);
  }

  /**
   * Writes a run: config.yaml, provenance.json, two metrics lines and, for a complete run,
   * result.json last.
   *
   * @return the run directory
   */
  public static Path writeRun(Path runs, String experiment, int index, String status, boolean complete) {
    TrialId id = trialId(experiment, index);
    RunDirectory dir = RunDirectory.create(runs, experiment, id, "config.yaml",
        ("name: " + experiment + "\n").getBytes(StandardCharsets.UTF_8));
    dir.writeText("provenance.json", String.format("""
        {"experiment": "%s", "trial_id": "%s", "status": "%s",
         "started_at": "2026-11-26T10:%02d:00Z", "ended_at": null,
         "git": {"commit": "abcdef0123456789", "dirty": false}, "error": null}""",
        experiment, id.sha256(), status, index));
    dir.appendLine(RunDirectory.METRICS, "{\"stage\":\"vae\",\"step\":25,\"loss\":" + (50 + index) + "}");
    dir.appendLine(RunDirectory.METRICS, "{\"stage\":\"unet\",\"step\":25,\"loss\":0." + index + "}");
    if (complete) {
      dir.writeText(RunDirectory.RESULT, String.format("""
          {"experiment": "%s", "trial_id": "%s", "status": "completed",
           "metrics": {"vae_heldout_psnr_db": %d.5, "unet_final_loss": 0.1}}""",
          experiment, id.sha256(), 20 + index));
    }
    return dir.path();
  }

  /**
   * Does what {@code run --rerun} does to a completed run: moves it aside as
   * {@code <trial>.replaced-<UTC time>} and starts the trial again in its own folder, still
   * running (provenance.json, no result.json yet).
   *
   * @return the folder the earlier run was kept in
   */
  public static Path rerun(Path runs, String experiment, int index) {
    Path live = RunDirectory.locate(runs, experiment, trialId(experiment, index));
    Path kept = live.resolveSibling(live.getFileName() + ".replaced-20261126T110000000Z");
    try {
      Files.move(live, kept, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    writeRun(runs, experiment, index, "running", false);
    return kept;
  }
}
