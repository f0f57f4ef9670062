package io.latentlab.sweep.execute;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonConstants;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.run.DataSources;
import io.latentlab.run.RunClaim;
import io.latentlab.run.RunDirectory;
import io.latentlab.sweep.SamplingTrials;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.SweepSpec;
import io.latentlab.tensor.Allocators;
import io.latentlab.tensor.Images;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorSlot;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import javax.imageio.ImageIO;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Samples and scores sampling trials ({@link SamplingTrials}) in this JVM's Python, and writes
 * each result and preview into the run's {@code sampling/} folder. Python keeps the loaded
 * model, the scoring classifier and each (sampler, steps, batch)'s compiled sampler between
 * trials, so a sweep in one process loads and compiles once.
 */
final class SamplingScorer {
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);
  private static final ObjectMapper PRETTY = new ObjectMapper()
      .enable(SerializationFeature.INDENT_OUTPUT)
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);
  private static final int PREVIEW_COLUMNS = 10;

  private SamplingScorer() {}

  /**
   * Samples and scores one trial (claiming it first), unless it already completed.
   *
   * @return the score: fid, fid_floor, fid_over_floor, conditional_accuracy, nfe, seconds, ...
   * @throws io.latentlab.run.RunClaimedException if another process runs it
   */
  static Map<String, Object> run(PythonBridge bridge, Path home, SweepPlan plan,
      SweepPlan.PlannedTrial trial, ProgressListener progress) {
    Path run = plan.runDirectory();
    return score(bridge, home, run, trial.trial(), loader -> SamplingTrials.request(loader, run,
        trial.overrides(), plan.spec().evaluate(), bridge), progress);
  }

  /**
   * Samples and scores a run with its own {@code sample.*} settings, unless that completed: a
   * training sweep's scoring of a trained trial.
   *
   * @return the score, as {@link #run}'s
   */
  static Map<String, Object> scoreOwn(PythonBridge bridge, Path home, Path run,
      SweepSpec.Evaluate evaluate, ProgressListener progress) {
    Map<String, Object> request = SamplingTrials.ownRequest(new ConfigLoader(), run, evaluate);
    String trial = SamplingTrials.trialId(SamplingTrials.runTrialId(run), request);
    return score(bridge, home, run, trial, loader -> request, progress);
  }

  @SuppressWarnings("try") // the claim is held for the try block, then released
  private static Map<String, Object> score(PythonBridge bridge, Path home, Path run, String trial,
      Function<ConfigLoader, Map<String, Object>> requestOf,
      ProgressListener progress) {
    Map<String, Object> done = SamplingTrials.completed(run, trial);
    if (done != null) {
      return done;
    }
    try (RunClaim claim = RunClaim.acquire(run.resolve(SamplingTrials.FOLDER).resolve(trial))) {
      done = SamplingTrials.completed(run, trial);
      if (done != null) {
        return done;
      }
      ConfigLoader loader = new ConfigLoader();
      Map<String, Object> request = requestOf.apply(loader);
      ExperimentConfig config = loader.load(run.resolve(RunDirectory.CONFIG));
      String canonical = loader.canonicalJson(config);
      DataSources.of(bridge, home, run.resolve(RunDirectory.CONFIG), canonical); // checks the data
      try (BufferAllocator memory = Allocators.aligned(); TensorSlot preview = TensorSlot.allocate(memory)) {
        String dataJson = PRETTY.readTree(canonical).get("data").toString(); // Python opens it
        Files.createDirectories(run.resolve(SamplingTrials.FOLDER));
        JsonNode reply = PRETTY.readTree(bridge.callForString("sample_and_score",
            run.resolve(RunDirectory.CHECKPOINT).toString(), dataJson,
            home.toString(), home.resolve(".cache").toString(),
            JSON.writeValueAsString(request), progress, preview.arrayAddress(), preview.schemaAddress()));
        try (Tensor images = preview.take()) {
          if (images.shape()[0] > 0) {
            writePreview(run, trial, images);
          }
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("sweep_trial", trial);
        result.put("run_trial_id", SamplingTrials.runTrialId(run));
        result.put("request", request);
        result.put("score", PRETTY.convertValue(reply.get("score"), Map.class));
        result.put("compiles", reply.path("compiles").asLong());
        byte[] content = PRETTY.writeValueAsBytes(result);
        RunDirectory.writeAtomically(SamplingTrials.resultFile(run, trial), out -> out.write(content));
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
    RunDirectory.writeAtomically(SamplingTrials.previewFile(run, trial), out -> out.write(bytes));
  }
}
