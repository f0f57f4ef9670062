package io.latentlab.lab;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.lab.SamplingOptions.Option;
import io.latentlab.tensor.Allocators;
import io.latentlab.tensor.Images;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorSlot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Denoising with a run's model beside classical denoisers (SDEdit in the latent space against
 * non-local means, total variation and a Gaussian blur): PSNR and SSIM per noise level, stored
 * as {@code RUN/denoise/<settings id>.json} with a picture {@code <settings id>.png}.
 */
public final class DenoiseTask {
  /** The task's name, also its result folder's. */
  public static final String KIND = "denoise";
  /** The sampling options it uses. */
  public static final Set<Option> OPTIONS = EnumSet.of(Option.SAMPLER, Option.STEPS, Option.SEED);
  /** Their defaults: ddim, 20 steps from the start σ, seed 0. */
  public static final SamplingOptions DEFAULTS = new SamplingOptions("ddim", 20, null, 0L, null, null);
  /** Restorations averaged for "ours, mean of K". */
  public static final int DEFAULT_AVERAGE = 4;
  /** Training images that choose each method's parameter. */
  public static final int DEFAULT_CALIBRATION = 32;

  private static final ObjectMapper JSON = ResultJson.MAPPER;

  /**
   * What to denoise and how.
   *
   * @param run the run directory whose model denoises
   * @param noiseSigmas standard deviations of the added pixel noise, each in [0, 1]
   * @param heldout the first N held-out digits of the run's classes; null: {@link
   *     ModelRun#DEFAULT_HELDOUT} (at most data.holdout); not with {@code images}
   * @param images digits to denoise instead (.npy [N, 28, 28] or [N, 32, 32], or a grey .png),
   *     or null
   * @param average restorations averaged for "ours, mean of K"
   * @param calibration training digits that choose each method's parameter
   * @param sampling sampler, steps and seed; nulls take {@link #DEFAULTS}
   */
  public record Request(Path run, List<Double> noiseSigmas, Integer heldout, Path images, int average,
      int calibration, SamplingOptions sampling) {
    public Request {
      Objects.requireNonNull(run, "run");
      noiseSigmas = List.copyOf(Objects.requireNonNull(noiseSigmas, "noiseSigmas"));
      sampling = sampling == null ? SamplingOptions.DEFAULTS : sampling;
    }

    /** A builder with every option at its default; {@code noiseSigmas} must be set. */
    public static Builder builder(Path run) {
      return new Builder(run);
    }
  }

  /** Builds a {@link Request}; each setter returns the builder. */
  public static final class Builder {
    private final Path run;
    private List<Double> noiseSigmas = List.of();
    private Integer heldout;
    private Path images;
    private int average = DEFAULT_AVERAGE;
    private int calibration = DEFAULT_CALIBRATION;
    private SamplingOptions sampling = SamplingOptions.DEFAULTS;

    private Builder(Path run) {
      this.run = run;
    }

    /** Noise levels, each in [0, 1]. */
    public Builder noiseSigmas(List<Double> value) {
      noiseSigmas = List.copyOf(value);
      return this;
    }

    /** The first N held-out digits (null: the default). */
    public Builder heldout(Integer value) {
      heldout = value;
      return this;
    }

    /** Digits from a file instead of held-out ones (null: held-out). */
    public Builder images(Path value) {
      images = value;
      return this;
    }

    /** K of "ours, mean of K". */
    public Builder average(int value) {
      average = value;
      return this;
    }

    /** Calibration digits per method. */
    public Builder calibration(int value) {
      calibration = value;
      return this;
    }

    /** Sampler, steps and seed. */
    public Builder sampling(SamplingOptions value) {
      sampling = value;
      return this;
    }

    /** The request. */
    public Request build() {
      return new Request(run, noiseSigmas, heldout, images, average, calibration, sampling);
    }
  }

  private final Path home;

  /** @param home the project root (its {@code .venv}, {@code .cache}) */
  public DenoiseTask(Path home) {
    this.home = home;
  }

  /**
   * Checks the request, then reads the completed result of the same settings or denoises and
   * stores the result. Nothing is written if a check fails.
   *
   * @param progress told of the stage {@code denoise}
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
    if (request.noiseSigmas().isEmpty()) {
      throw new UsageException("--noise-sigma: give at least one noise level in [0, 1], e.g. 0.2");
    }
    for (double s : request.noiseSigmas()) {
      if (!(s >= 0 && s <= 1)) {
        throw new UsageException("--noise-sigma: each must be in [0, 1] (pixel values are in [0, 1]), got " + s);
      }
    }
    if (request.images() != null && request.heldout() != null) {
      throw new UsageException("--heldout and --images: choose one source of digits");
    }
    Path imageFile = null;
    if (request.images() != null) {
      imageFile = request.images().toAbsolutePath().normalize();
      String name = imageFile.getFileName().toString();
      if (!Files.isRegularFile(imageFile) || !(name.endsWith(".npy") || name.endsWith(".png"))) {
        throw new UsageException("--images: " + request.images() + " must be an existing .npy or .png file");
      }
    }
    int count = imageFile == null ? model.heldout(request.heldout()) : 0;
    // The keys and their order are the settings' identity (ModelResults.settingsId): keep them.
    ObjectNode python = JSON.createObjectNode();
    python.set("noise_sigmas", JSON.valueToTree(request.noiseSigmas()));
    python.put("steps", sampling.steps());
    python.put("sampler", sampling.sampler());
    python.put("average", request.average());
    python.put("calibration", request.calibration());
    python.put("seed", sampling.seed());
    if (imageFile != null) {
      python.put("images", imageFile.toString());
    } else {
      python.put("heldout", count);
    }
    PythonBridge bridge = PythonBridge.start(home);
    ObjectNode resolved = ModelRun.checkedRequest(bridge, "check_denoise_request", python);
    ObjectNode identity = resolved.deepCopy();
    identity.remove("images"); // the file's content names it, not its path
    StoredResult stored = StoredResult.of(model, KIND, identity, imageFile);
    TaskResult done = stored.completed(List.of(".png"));
    if (done != null) {
      return done;
    }
    model.data(bridge, home); // the data is there, or a one-line refusal, as for training
    JsonNode result;
    byte[] picture;
    try (BufferAllocator memory = Allocators.aligned();
        TensorSlot slot = TensorSlot.allocate(memory)) {
      result = readTree(bridge.callForString("denoise_run",
          model.checkpoint().toString(), model.dataJson(), home.toString(), resolved.toString(),
          progress, slot.arrayAddress(), slot.schemaAddress()));
      try (Tensor pictureTensor = slot.take()) {
        picture = pictureTensor.shape()[0] == 0 ? null
            : ModelRun.png(Images.grid(pictureTensor, result.get("picture_columns").size(), 2));
      }
    } catch (PythonException e) {
      throw ModelRun.refusal("", e);
    }
    return stored.write((ObjectNode) result, picture == null ? Map.of() : Map.of(".png", picture));
  }

  /** What both skins print for a result: the table, then the files. */
  public static String text(TaskResult result) {
    StringBuilder text = new StringBuilder();
    if (result.completedEarlier()) {
      text.append(TaskResult.ALREADY_DONE).append(System.lineSeparator());
    }
    text.append("denoising ").append(result.json().path("source").asText())
        .append("; PSNR (dB) / SSIM against the clean digits:").append(System.lineSeparator());
    text.append(result.json().get("markdown").asText());
    text.append("result:  ").append(result.file()).append(System.lineSeparator());
    for (Path picture : result.pictures()) {
      text.append("picture: ").append(picture).append(System.lineSeparator());
    }
    return text.toString();
  }

  static JsonNode readTree(String json) {
    try {
      return JSON.readTree(json);
    } catch (IOException e) {
      throw new UncheckedIOException("unreadable result from Python", e);
    }
  }
}
