package io.latentlab.sweep;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonConstants;
import io.latentlab.config.ConfigException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.config.SampleConfig;
import io.latentlab.run.DataSource;
import io.latentlab.run.DataSources;
import io.latentlab.run.RunClaim;
import io.latentlab.run.RunDirectory;
import io.latentlab.tensor.Allocators;
import io.latentlab.tensor.Images;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorSlot;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Sampling trials: a completed run's checkpoint sampled and scored with one sweep trial's
 * {@code sample.*} settings. The result is kept in the run's own directory,
 * {@code <run>/sampling/<trial>.json} (written last) beside its preview {@code <trial>.png}.
 * Python keeps the loaded model, the scoring classifier and each (sampler, steps, batch)'s
 * compiled sampler between trials, so a sweep in one process loads and compiles once.
 */
final class SamplingTrials {
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);
  private static final ObjectMapper PRETTY = new ObjectMapper()
      .enable(SerializationFeature.INDENT_OUTPUT)
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);
  /** The folder of a run's sampling results. */
  static final String FOLDER = "sampling";
  private static final int PREVIEW_COLUMNS = 10;

  private SamplingTrials() {}

  /** The run's full trial id, from its provenance. */
  static String runTrialId(Path run) {
    try {
      return PRETTY.readTree(run.resolve("provenance.json").toFile()).path("trial_id").asText();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + run.resolve("provenance.json"), e);
    }
  }

  /**
   * The sampling request of one trial: the run's own sample section with the trial's
   * overrides, checked (names against Python's, ranges by the config records).
   *
   * @throws ConfigException naming the override at fault
   */
  static Map<String, Object> request(ConfigLoader loader, Path run, List<String> overrides,
      SweepSpec.Evaluate evaluate, PythonConstants names) {
    ExperimentConfig config = loader.load(run.resolve("config.yaml"), overrides);
    SampleConfig sample = config.sample();
    if (!names.samplers().contains(sample.sampler())) {
      throw new ConfigException("override 'sample.sampler=" + sample.sampler() + "': unknown sampler '"
          + sample.sampler() + "'; use one of " + String.join(", ", names.samplers()));
    }
    if (!names.spacings().contains(sample.spacing())) {
      throw new ConfigException("override 'sample.spacing=" + sample.spacing() + "': unknown spacing '"
          + sample.spacing() + "'; use one of " + String.join(", ", names.spacings()));
    }
    return request(config, eta(sample, overrides, names), evaluate);
  }

  /**
   * The sampling request that scores a run with its own {@code sample.*} settings (as a
   * training sweep with {@code evaluate:} scores each trial): the request, and so the result,
   * of a sampling trial whose overrides change nothing.
   */
  static Map<String, Object> ownRequest(ConfigLoader loader, Path run, SweepSpec.Evaluate evaluate) {
    ExperimentConfig config = loader.load(run.resolve("config.yaml"), List.of());
    return request(config, config.sample().eta(), evaluate);
  }

  /** The id of the sampling trial that scores a run with its own settings. */
  static String ownTrial(ConfigLoader loader, Path run, SweepSpec.Evaluate evaluate) {
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
   * The η a trial samples with. The run's config holds the η its own sampler resolved to (the
   * reference model's dpmpp_2m wrote 0.0), so a trial that overrides {@code sample.sampler}
   * with one that has an η, and does not set {@code sample.eta}, gets that sampler's own
   * default: euler_ancestral, ddpm and the SDE samplers then sample with noise, as their
   * names say, instead of at their deterministic limit.
   */
  static Double eta(SampleConfig sample, List<String> overrides, PythonConstants names) {
    boolean samplerChanged = overrides.stream().anyMatch(o -> o.startsWith("sample.sampler="));
    boolean etaSet = overrides.stream().anyMatch(o -> o.startsWith("sample.eta="));
    if (samplerChanged && !etaSet && names.defaultEtas().containsKey(sample.sampler())) {
      return names.defaultEtas().get(sample.sampler());
    }
    return sample.eta();
  }

  /** The trial id: SHA-256 of the run's trial id and the canonical request, 12 hex digits. */
  static String trialId(String runTrialId, Map<String, Object> request) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update((runTrialId + "\n" + JSON.writeValueAsString(new TreeMap<>(request)))
          .getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(sha.digest()).substring(0, 12);
    } catch (NoSuchAlgorithmException | IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static Path resultFile(Path run, String trial) {
    return run.resolve(FOLDER).resolve(trial + ".json");
  }

  static Path previewFile(Path run, String trial) {
    return run.resolve(FOLDER).resolve(trial + ".png");
  }

  /** The metrics of a completed sampling trial, or null if it has not completed. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> completed(Path run, String trial) {
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

  /**
   * Samples and scores one trial (claiming it first), unless it already completed.
   *
   * @return the score: fid, fid_floor, fid_over_floor, conditional_accuracy, nfe, seconds, ...
   * @throws io.latentlab.run.RunClaimedException if another process runs it
   */
  static Map<String, Object> run(PythonBridge bridge, Path home, SweepPlan plan,
      SweepPlan.PlannedTrial trial, ProgressListener progress) {
    Path run = plan.runDirectory();
    return score(bridge, home, run, trial.trial(), loader -> request(loader, run,
        trial.overrides(), plan.spec().evaluate(), PythonConstants.of(bridge)), progress);
  }

  /**
   * Samples and scores a run with its own {@code sample.*} settings, unless that completed: a
   * training sweep's scoring of a trained trial.
   *
   * @return the score, as {@link #run}'s
   */
  static Map<String, Object> scoreOwn(PythonBridge bridge, Path home, Path run,
      SweepSpec.Evaluate evaluate, ProgressListener progress) {
    Map<String, Object> request = ownRequest(new ConfigLoader(), run, evaluate);
    return score(bridge, home, run, trialId(runTrialId(run), request), loader -> request, progress);
  }

  @SuppressWarnings("try") // the claim is held for the try block, then released
  private static Map<String, Object> score(PythonBridge bridge, Path home, Path run, String trial,
      java.util.function.Function<ConfigLoader, Map<String, Object>> requestOf,
      ProgressListener progress) {
    Map<String, Object> done = completed(run, trial);
    if (done != null) {
      return done;
    }
    try (RunClaim claim = RunClaim.acquire(run.resolve(FOLDER).resolve(trial))) {
      done = completed(run, trial);
      if (done != null) {
        return done;
      }
      ConfigLoader loader = new ConfigLoader();
      Map<String, Object> request = requestOf.apply(loader);
      ExperimentConfig config = loader.load(run.resolve("config.yaml"));
      DataSource data = DataSources.of(bridge, home, run.resolve("config.yaml"),
          loader.canonicalJson(config));
      try (BufferAllocator memory = Allocators.aligned(); TensorSlot preview = TensorSlot.allocate(memory)) {
        Files.createDirectories(run.resolve(FOLDER));
        JsonNode reply = PRETTY.readTree(bridge.callForString("sample_and_score",
            run.resolve(RunDirectory.CHECKPOINT).toString(), data.location().toString(),
            config.data().holdout(), home.resolve(".cache").toString(),
            JSON.writeValueAsString(request), progress, preview.arrayAddress(), preview.schemaAddress()));
        try (Tensor images = preview.take()) {
          if (images.shape()[0] > 0) {
            writePreview(run, trial, images);
          }
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("sweep_trial", trial);
        result.put("run_trial_id", runTrialId(run));
        result.put("request", request);
        result.put("score", PRETTY.convertValue(reply.get("score"), Map.class));
        result.put("compiles", reply.path("compiles").asLong());
        byte[] content = PRETTY.writeValueAsBytes(result);
        RunDirectory.writeAtomically(resultFile(run, trial), out -> out.write(content));
        @SuppressWarnings("unchecked")
        Map<String, Object> score = (Map<String, Object>) result.get("score");
        return score;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  private static void writePreview(Path run, String trial, Tensor images) throws IOException {
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    ImageIO.write(Images.grid(images, PREVIEW_COLUMNS, 2), "png", png);
    byte[] bytes = png.toByteArray();
    RunDirectory.writeAtomically(previewFile(run, trial), out -> out.write(bytes));
  }
}
