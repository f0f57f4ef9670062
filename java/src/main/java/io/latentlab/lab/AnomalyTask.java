package io.latentlab.lab;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.lab.SamplingOptions.Option;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Anomaly detection with a run trained on some classes: its held-out images of unseen classes
 * scored by diffusion (reconstruction after partial noising, the denoising loss) beside the
 * VAE's reconstruction error; AUROC per score, stored as {@code RUN/anomaly/<settings id>.json}
 * with the ROC chart {@code <settings id>-roc.png} ({@link RocChart}).
 */
public final class AnomalyTask {
  /** The task's name, also its result folder's. */
  public static final String KIND = "anomaly";
  /** The sampling options it uses. */
  public static final Set<Option> OPTIONS = EnumSet.of(Option.SAMPLER, Option.STEPS, Option.SEED);
  /** Their defaults: ddim, 20 steps back from σ_T, seed 0. */
  public static final SamplingOptions DEFAULTS = new SamplingOptions("ddim", 20, null, 0L, null, null);
  /** Training timesteps of the reconstruction scores. */
  public static final List<Integer> DEFAULT_TIMESTEPS = List.of(100, 250, 500);
  /** Evenly spaced timesteps the denoising loss averages. */
  public static final int DEFAULT_LOSS_TIMESTEPS = 20;
  /** At most this many normal and this many anomalous held-out images. */
  public static final int DEFAULT_PER_GROUP = 500;

  private static final ObjectMapper JSON = ResultJson.MAPPER;

  /**
   * What to score and how.
   *
   * @param run the run directory, trained with {@code data.classes} set
   * @param timesteps training timesteps of the reconstruction scores (Python checks the range)
   * @param lossTimesteps evenly spaced timesteps the denoising loss averages
   * @param perGroup at most N normal and N anomalous held-out images, at least 2
   * @param sampling sampler, steps and seed; nulls take {@link #DEFAULTS}
   */
  public record Request(Path run, List<Integer> timesteps, int lossTimesteps, int perGroup, SamplingOptions sampling) {
    public Request {
      Objects.requireNonNull(run, "run");
      timesteps = List.copyOf(Objects.requireNonNull(timesteps, "timesteps"));
      sampling = sampling == null ? SamplingOptions.DEFAULTS : sampling;
    }

    /** Every option at its default. */
    public static Request defaults(Path run) {
      return new Request(run, DEFAULT_TIMESTEPS, DEFAULT_LOSS_TIMESTEPS, DEFAULT_PER_GROUP, SamplingOptions.DEFAULTS);
    }
  }

  private final Path home;

  /** @param home the project root (its {@code .venv}, {@code .cache}) */
  public AnomalyTask(Path home) {
    this.home = home;
  }

  /**
   * Checks the request, then reads the completed result of the same settings or scores the
   * digits and stores the result. Nothing is written if a check fails.
   *
   * @param progress told of the stage {@code anomaly}
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
    if (model.config().data().classes() == null) {
      throw new UsageException("RUN: " + model.dir() + " trained on every "
          + "class, so no class is unseen; run a config with data.classes set to some classes "
          + "(experiments/anomaly-mnist.yaml)");
    }
    if (request.perGroup() < 2) {
      throw new UsageException("--per-group: must be >= 2, got " + request.perGroup());
    }
    // Python resolves these; its answer is the settings' identity (ModelResults.settingsId).
    ObjectNode python = JSON.createObjectNode();
    python.set("timesteps", JSON.valueToTree(request.timesteps()));
    python.put("loss_timesteps", request.lossTimesteps());
    python.put("per_group", request.perGroup());
    python.put("steps", sampling.steps());
    python.put("sampler", sampling.sampler());
    python.put("seed", sampling.seed());
    PythonBridge bridge = PythonBridge.start(home);
    ObjectNode resolved = ModelRun.checkedRequest(bridge, "check_anomaly_request", python);
    StoredResult stored = StoredResult.of(model, KIND, resolved, null);
    TaskResult done = stored.completed(List.of("-roc.png"));
    if (done != null) {
      return done;
    }
    model.data(bridge, home); // the data is there, or a one-line refusal, as for training
    ObjectNode result;
    try {
      result = (ObjectNode) DenoiseTask.readTree(bridge.callForString("anomaly_run",
          model.checkpoint().toString(), model.dataJson(), home.toString(),
          resolved.toString(), progress));
    } catch (PythonException e) {
      throw ModelRun.refusal("", e);
    }
    return stored.write(result, Map.of("-roc.png", RocChart.png(result)));
  }

  /** What both skins print for a result: the AUROC table, then the files. */
  public static String text(TaskResult result) {
    StringBuilder text = new StringBuilder();
    if (result.completedEarlier()) {
      text.append(TaskResult.ALREADY_DONE).append(System.lineSeparator());
    }
    text.append(String.format("%d normal held-out images (classes %s) vs %d anomalous (classes %s); AUROC:%n",
        result.json().get("normal").asInt(), result.json().get("normal_classes"),
        result.json().get("anomalous").asInt(), result.json().get("anomalous_classes")));
    text.append(result.json().get("markdown").asText());
    text.append("result: ").append(result.file()).append(System.lineSeparator());
    text.append("ROC:    ").append(result.file().resolveSibling(
        result.file().getFileName().toString().replace(".json", "-roc.png"))).append(System.lineSeparator());
    return text.toString();
  }
}
