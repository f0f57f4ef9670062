package io.latentlab.sweep;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonConstants;
import io.latentlab.config.ConfigException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.config.SampleConfig;
import io.latentlab.run.RunDirectory;
import io.latentlab.run.SamplingRule;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Sampling trials: a completed run's checkpoint sampled and scored with one sweep trial's
 * {@code sample.*} settings. This class defines them: a trial's request, its id, and where its
 * result is kept in the run's own directory, {@code <run>/sampling/<trial>.json} (written last)
 * beside its preview {@code <trial>.png}. Sampling and scoring one is the executors'
 * ({@code io.latentlab.sweep.execute}).
 */
public final class SamplingTrials {
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);
  private static final ObjectMapper PRETTY = new ObjectMapper()
      .enable(SerializationFeature.INDENT_OUTPUT)
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);
  /** The folder of a run's sampling results. */
  public static final String FOLDER = "sampling";

  private SamplingTrials() {}

  /** The run's full trial id, from its provenance. */
  public static String runTrialId(Path run) {
    try {
      return PRETTY.readTree(run.resolve(RunDirectory.PROVENANCE).toFile()).path("trial_id").asText();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + run.resolve(RunDirectory.PROVENANCE), e);
    }
  }

  /**
   * The sampling request of one trial: the run's own sample section with the trial's
   * overrides, checked (names against Python's, ranges by the config records).
   *
   * @throws ConfigException naming the override at fault
   */
  public static Map<String, Object> request(ConfigLoader loader, Path run, List<String> overrides,
      SweepSpec.Evaluate evaluate, PythonBridge bridge) {
    PythonConstants names = PythonConstants.of(bridge);
    ExperimentConfig config = loader.load(run.resolve(RunDirectory.CONFIG), overrides);
    SampleConfig sample = config.sample();
    if (!names.samplers().contains(sample.sampler())) {
      throw new ConfigException("override 'sample.sampler=" + sample.sampler() + "': unknown sampler '"
          + sample.sampler() + "'; use one of " + String.join(", ", names.samplers()));
    }
    if (!names.spacings().contains(sample.spacing())) {
      throw new ConfigException("override 'sample.spacing=" + sample.spacing() + "': unknown spacing '"
          + sample.spacing() + "'; use one of " + String.join(", ", names.spacings()));
    }
    return request(config, eta(loader.load(run.resolve(RunDirectory.CONFIG)).sample(), sample,
        overrides, bridge), evaluate);
  }

  /**
   * The sampling request that scores a run with its own {@code sample.*} settings (as a
   * training sweep with {@code evaluate:} scores each trial): the request, and so the result,
   * of a sampling trial whose overrides change nothing.
   */
  public static Map<String, Object> ownRequest(ConfigLoader loader, Path run, SweepSpec.Evaluate evaluate) {
    ExperimentConfig config = loader.load(run.resolve(RunDirectory.CONFIG), List.of());
    return request(config, config.sample().eta(), evaluate);
  }

  /** The id of the sampling trial that scores a run with its own settings. */
  public static String ownTrial(ConfigLoader loader, Path run, SweepSpec.Evaluate evaluate) {
    return trialId(runTrialId(run), ownRequest(loader, run, evaluate));
  }

  private static Map<String, Object> request(ExperimentConfig config, Double eta,
      SweepSpec.Evaluate evaluate) {
    SampleConfig sample = config.sample();
    if (evaluate.samples() > config.data().holdout()) {
      throw new ConfigException("evaluate.samples: " + evaluate.samples() + " is more than the run's "
          + "data.holdout (" + config.data().holdout() + "), whose images give the FID floor");
    }
    Map<String, Object> request = new TreeMap<>();
    request.put("sampler", sample.sampler());
    request.put("steps", sample.steps());
    request.put("guidance_scale", sample.guidanceScale());
    request.put("eta", eta);
    request.put("spacing", sample.spacing());
    request.put("rho", sample.rho());
    request.put("num_samples", evaluate.samples());
    request.put("seed", 0L);
    request.put("preview", evaluate.preview());
    return request;
  }

  /**
   * The η a trial samples with, by Python's rule ({@link SamplingRule}): the run's config holds
   * the η its own sampler resolved to (the reference model's dpmpp_2m wrote 0.0), so a trial
   * that overrides {@code sample.sampler} with another one that has an η, and does not set
   * {@code sample.eta}, gets that sampler's own: euler_ancestral, ddpm and the SDE samplers then
   * sample with noise, as their names say, instead of at their deterministic limit.
   *
   * @param recorded the run's own sample section
   * @param overridden the same with the trial's overrides applied
   */
  static Double eta(SampleConfig recorded, SampleConfig overridden, List<String> overrides, PythonBridge bridge) {
    boolean samplerSet = overrides.stream().anyMatch(o -> o.startsWith("sample.sampler="));
    boolean etaSet = overrides.stream().anyMatch(o -> o.startsWith("sample.eta="));
    return SamplingRule.resolve(bridge, recorded, samplerSet ? overridden.sampler() : null, null,
        etaSet ? overridden.eta() : null, null, null).eta();
  }

  /** The trial id: SHA-256 of the run's trial id and the canonical request, 12 hex digits. */
  public static String trialId(String runTrialId, Map<String, Object> request) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update((runTrialId + "\n" + JSON.writeValueAsString(new TreeMap<>(request)))
          .getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(sha.digest()).substring(0, 12);
    } catch (NoSuchAlgorithmException | IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Where a sampling trial's result is: {@code <run>/sampling/<trial>.json}. */
  public static Path resultFile(Path run, String trial) {
    return run.resolve(FOLDER).resolve(trial + ".json");
  }

  /** Where a sampling trial's preview is: {@code <run>/sampling/<trial>.png}. */
  public static Path previewFile(Path run, String trial) {
    return run.resolve(FOLDER).resolve(trial + ".png");
  }

  /** The metrics of a completed sampling trial, or null if it has not completed. */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> completed(Path run, String trial) {
    Path file = resultFile(run, trial);
    if (!Files.isRegularFile(file)) {
      return null;
    }
    try {
      return (Map<String, Object>) PRETTY.readValue(file.toFile(), Map.class).get("score");
    } catch (IOException e) {
      return null; // unreadable: run it again
    }
  }
}
