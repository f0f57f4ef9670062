package io.latentlab.shell;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.run.RunDirectory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A run directory as JShell shows it: what {@code lab.run(config)} returns and
 * {@code lab.show(id)} finds. Its {@code toString} is one line (experiment, trial id, status,
 * key metrics, directory); {@code lab.sampler(run)} samples its checkpoint step by step.
 *
 * <p>A snapshot of the run's files when it was read; read again with {@code lab.show(id)}.
 */
public final class Run {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The metrics {@link #toString} shows, with their short names (as {@code latentlab runs}). */
  private static final Map<String, String> KEY_METRICS = keyMetrics();

  private final Lab lab;
  private final Path directory;
  private final String experiment;
  private final String trialId;
  private final String status;
  private final Map<String, Object> metrics;
  private final List<Integer> sampleLabels;
  private final boolean reused;

  private Run(Lab lab, Path directory, String experiment, String trialId, String status,
      Map<String, Object> metrics, List<Integer> sampleLabels, boolean reused) {
    this.lab = lab;
    this.directory = directory;
    this.experiment = experiment;
    this.trialId = trialId;
    this.status = status;
    this.metrics = metrics;
    this.sampleLabels = sampleLabels;
    this.reused = reused;
  }

  private static Map<String, String> keyMetrics() {
    Map<String, String> names = new LinkedHashMap<>();
    names.put("vae_heldout_psnr_db", "vae_psnr_db");
    names.put("unet_final_loss", "unet_loss");
    return Collections.unmodifiableMap(names);
  }

  /**
   * Reads a run directory: {@code provenance.json} (experiment, status) and, once complete,
   * {@code result.json} (metrics, sample labels).
   *
   * @param reused true if the run was asked for and had already completed
   * @throws UncheckedIOException if a file cannot be read
   */
  static Run read(Lab lab, Path directory, boolean reused) {
    JsonNode provenance = readJson(directory.resolve(RunDirectory.PROVENANCE));
    Path resultFile = directory.resolve(RunDirectory.RESULT);
    JsonNode result = Files.isRegularFile(resultFile) ? readJson(resultFile) : JSON.createObjectNode();
    Map<String, Object> metrics = new LinkedHashMap<>();
    result.path("metrics").fields().forEachRemaining(e -> metrics.put(e.getKey(),
        e.getValue().isNumber() ? (Object) e.getValue().numberValue() : e.getValue().asText()));
    List<Integer> labels = new ArrayList<>();
    result.path("sample_labels").forEach(label -> labels.add(label.asInt()));
    String status = result.has("status") ? result.path("status").asText()
        : provenance.path("status").asText("unknown");
    String trial = provenance.path("trial_id").asText(directory.getFileName().toString());
    return new Run(lab, directory, provenance.path("experiment").asText("?"),
        trial.substring(0, Math.min(12, trial.length())), status,
        Collections.unmodifiableMap(metrics), List.copyOf(labels), reused);
  }

  private static JsonNode readJson(Path file) {
    try {
      return JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  /** The run directory. */
  public Path directory() {
    return directory;
  }

  /** The experiment's name. */
  public String experiment() {
    return experiment;
  }

  /** The trial id's first 12 hex digits (the directory's name). */
  public String trialId() {
    return trialId;
  }

  /**
   * {@code completed}, or, for a run that did not complete, what its provenance says:
   * {@code running} (or killed), {@code failed}, {@code interrupted}.
   */
  public String status() {
    return status;
  }

  /** The run's metrics by name (losses, PSNR, stage timings); empty until it completes. */
  public Map<String, Object> metrics() {
    return metrics;
  }

  /** The class label of each sample the run drew, in order. */
  public List<Integer> sampleLabels() {
    return sampleLabels;
  }

  /** The run's samples grid, {@code samples.png}. */
  public Path samples() {
    return directory.resolve("samples.png");
  }

  /** True if the run had already completed when asked for, so nothing was run. */
  public boolean reused() {
    return reused;
  }

  /**
   * One line, e.g. {@code Run quickstart f11618248513 completed vae_psnr_db 18.21 unet_loss
   * 0.0312 runs/quickstart/f11618248513}.
   */
  @Override
  public String toString() {
    StringBuilder text = new StringBuilder("Run ").append(experiment).append(' ').append(trialId)
        .append(' ').append(status).append(reused ? " (already completed, not rerun)" : "");
    KEY_METRICS.forEach((name, shortName) -> {
      if (metrics.get(name) instanceof Number value) {
        text.append(String.format(Locale.ROOT, " %s %.4g", shortName, value.doubleValue()));
      }
    });
    return text.append(' ').append(lab.display(directory)).toString();
  }
}
