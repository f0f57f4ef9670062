package io.latentlab.lab;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonConstants;
import io.latentlab.bridge.PythonException;
import io.latentlab.lab.SamplingOptions.Option;
import io.latentlab.run.SamplerOptions;
import io.latentlab.run.SamplerSession;
import io.latentlab.tensor.Allocators;
import io.latentlab.tensor.Images;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorSlot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Inpainting held-out images by sampling step by step from Java and replacing the known region's
 * latents after every step (RePaint, {@link #repaint}); scored by the data's classifier's
 * accuracy, stored as {@code RUN/inpaint/<settings id>.json} with a picture.
 */
public final class InpaintTask {
  /** The task's name, also its result folder's. */
  public static final String KIND = "inpaint";
  /** The sampling options it uses. */
  public static final Set<Option> OPTIONS = EnumSet.of(Option.SAMPLER, Option.STEPS, Option.SEED);
  /** Their defaults: ddim, 50 steps, seed 0. */
  public static final SamplingOptions DEFAULTS = new SamplingOptions("ddim", 50, null, 0L, null, null);
  /** The masks named by a word; anything else is a file. */
  public static final List<String> MASKS = List.of("left-half", "center");
  /** The most retakes of each step {@code resample} allows. */
  public static final int MAX_RESAMPLE = 20;

  private static final ObjectMapper JSON = ResultJson.MAPPER;

  /**
   * What to inpaint and how.
   *
   * @param run the run directory whose model inpaints
   * @param mask the missing region: {@code left-half}, {@code center}, or a .npy or grey .png
   *     file (28×28 or 32×32, nonzero = missing)
   * @param heldout the first N held-out images; null: {@link ModelRun#DEFAULT_HELDOUT} (at most
   *     data.holdout)
   * @param resample retakes of each step after re-noising its result, in [0, {@link
   *     #MAX_RESAMPLE}]
   * @param sampling sampler, steps and seed; nulls take {@link #DEFAULTS}
   */
  public record Request(Path run, String mask, Integer heldout, int resample, SamplingOptions sampling) {
    public Request {
      Objects.requireNonNull(run, "run");
      sampling = sampling == null ? SamplingOptions.DEFAULTS : sampling;
    }
  }

  private final Path home;

  /** @param home the project root (its {@code .venv}, {@code .cache}) */
  public InpaintTask(Path home) {
    this.home = home;
  }

  /**
   * Checks the request, then reads the completed result of the same settings or inpaints and
   * stores the result. Nothing is written if a check fails.
   *
   * @param progress told of the sampler's steps (stage {@code sample})
   * @throws UsageException for a bad request (before any work)
   * @throws io.latentlab.bridge.PythonException if the work failed in Python
   */
  public TaskResult run(Request request, ProgressListener progress) {
    try {
      return execute(request, progress);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private TaskResult execute(Request request, ProgressListener progress) throws IOException {
    ModelRun model = ModelRun.find(request.run());
    request.sampling().requireOnly(OPTIONS, KIND);
    SamplingOptions sampling = request.sampling().orElse(DEFAULTS);
    String mask = request.mask();
    if (mask == null || mask.isBlank()) {
      throw new UsageException("--mask: give the missing region: left-half, center, or a .npy or .png file");
    }
    Path maskFile = null;
    if (!MASKS.contains(mask)) {
      maskFile = Path.of(mask).toAbsolutePath().normalize();
      String name = maskFile.getFileName().toString();
      if (!Files.isRegularFile(maskFile) || !(name.endsWith(".npy") || name.endsWith(".png"))) {
        throw new UsageException("--mask: use left-half, center, or an existing .npy or .png file; got " + mask);
      }
    }
    int heldout = model.heldout(request.heldout());
    int resample = request.resample();
    if (resample < 0 || resample > MAX_RESAMPLE) {
      throw new UsageException("--resample: must be in [0, " + MAX_RESAMPLE + "], got " + resample);
    }
    PythonBridge bridge = PythonBridge.start(home);
    List<String> samplers = PythonConstants.of(bridge).samplers();
    if (!samplers.contains(sampling.sampler())) {
      throw new UsageException("--sampler: unknown sampler '" + sampling.sampler() + "'; use one of "
          + String.join(", ", samplers));
    }
    // The keys and their order are the settings' identity (ModelResults.settingsId): keep them.
    ObjectNode settings = JSON.createObjectNode();
    settings.put("mask", maskFile == null ? mask : "file");
    settings.put("heldout", heldout);
    settings.put("steps", sampling.steps());
    settings.put("sampler", sampling.sampler());
    settings.put("seed", sampling.seed());
    if (resample > 0) { // absent when 0, so results from before the option keep their ids
      settings.put("resample", resample);
    }
    StoredResult stored = StoredResult.of(model, KIND, settings, maskFile);
    TaskResult done = stored.completed(List.of(".png"));
    if (done != null) {
      return done;
    }
    model.data(bridge, home); // the data is there, or a one-line refusal, as for training
    ObjectNode result;
    byte[] picture;
    Path maskArgument = maskFile;
    try {
      try (BufferAllocator memory = Allocators.aligned();
          TensorSlot knownSlot = TensorSlot.allocate(memory);
          TensorSlot cellsSlot = TensorSlot.allocate(memory)) {
        JsonNode job = DenoiseTask.readTree(bridge.callForString(
            "inpaint_prepare", model.checkpoint().toString(), model.dataJson(), home.toString(),
            maskArgument == null ? mask : maskArgument.toString(), heldout, knownSlot.arrayAddress(),
            knownSlot.schemaAddress(), cellsSlot.arrayAddress(), cellsSlot.schemaAddress()));
        float[] known;
        float[] cells;
        try (Tensor knownLatents = knownSlot.take(); Tensor knownCells = cellsSlot.take()) {
          known = knownLatents.toFloatArray();
          cells = knownCells.toFloatArray();
        }
        SamplerOptions options = new SamplerOptions(sampling.sampler(), sampling.steps(), sampling.seed(),
            Collections.nCopies(heldout, job.get("null_label").asInt()), 0.0);
        try (SamplerSession session = SamplerSession.open(bridge, model.dir(), options, memory, progress)) {
          repaint(session, memory, known, cells, resample, new SplittableRandom(sampling.seed()));
          try (Tensor completed = session.decode();
              ArrowArray array = ArrowArray.allocateNew(memory);
              ArrowSchema schema = ArrowSchema.allocateNew(memory);
              TensorSlot pictureSlot = TensorSlot.allocate(memory)) {
            completed.exportTo(memory, array.memoryAddress(), schema.memoryAddress());
            result = (ObjectNode) DenoiseTask.readTree(bridge.callForString(
                "inpaint_finish", job.get("handle").asLong(), home.resolve(".cache").toString(),
                array.memoryAddress(), schema.memoryAddress(), pictureSlot.arrayAddress(),
                pictureSlot.schemaAddress()));
            try (Tensor pictureTensor = pictureSlot.take()) {
              picture = ModelRun.png(Images.grid(pictureTensor, 3, 2));
            }
          }
        }
      }
    } catch (PythonException e) {
      throw ModelRun.refusal("--", e);
    }
    result.set("request", settings);
    return stored.write(result, Map.of(".png", picture));
  }

  /**
   * The RePaint loop: after every step, the known cells become the known latents re-noised to
   * the session's current σ (exactly the known latents after the last step, where σ = 0). With
   * {@code resample} R > 0, each step is taken R + 1 times: before a retake, the step's result
   * (known cells set) is re-noised from σ_{i+1} back to σ_i with fresh Gaussian noise of
   * variance σ_i² − σ_{i+1}² and the session rewound to it.
   *
   * @param known the known latents, {@code [N, h, w, c]} flattened
   * @param cells 1 for a known latent cell, {@code [1, h, w, c]} flattened
   */
  public static void repaint(SamplerSession session, BufferAllocator memory, float[] known, float[] cells,
      int resample, SplittableRandom random) {
    while (!session.done()) {
      double from = session.sigma();
      for (int take = 0; take <= resample; take++) {
        try (SamplerSession.Step step = session.step()) {
          double sigma = session.sigma();
          float[] x = step.latents().toFloatArray();
          for (int i = 0; i < x.length; i++) {
            if (cells[i % cells.length] == 1f) {
              x[i] = (float) (known[i] + sigma * random.nextGaussian());
            }
          }
          boolean retake = take < resample;
          if (retake) {
            double back = Math.sqrt(Math.max(0, from * from - sigma * sigma));
            for (int i = 0; i < x.length; i++) {
              x[i] = (float) (x[i] + back * random.nextGaussian());
            }
          }
          try (Tensor edited = Tensor.ofFloats(memory, step.latents().shape(), x)) {
            if (retake) {
              session.rewind(edited);
            } else {
              session.setLatents(edited);
            }
          }
        }
      }
    }
  }

  /** What both skins print for a result: the accuracies, then the files. */
  public static String text(TaskResult result) {
    JsonNode json = result.json();
    JsonNode accuracy = json.get("accuracy");
    StringBuilder text = new StringBuilder();
    if (result.completedEarlier()) {
      text.append(TaskResult.ALREADY_DONE).append(System.lineSeparator());
    }
    text.append(String.format("%d held-out images, mask %s (%d missing pixels; %d of %d latent cells known)%n",
        json.get("count").asInt(), json.get("request").get("mask").asText(),
        json.get("missing_pixels").asInt(), json.get("known_latent_cells").asInt(),
        json.get("latent_cells").asInt()));
    text.append(String.format("  classifier accuracy: original %.3f, masked %.3f, completed %.3f%n",
        accuracy.get("original").asDouble(), accuracy.get("masked").asDouble(),
        accuracy.get("completed").asDouble()));
    text.append("result:  ").append(result.file()).append(System.lineSeparator());
    text.append("picture: ").append(result.file().resolveSibling(
        result.file().getFileName().toString().replace(".json", ".png"))).append(System.lineSeparator());
    return text.toString();
  }
}
