package io.latentlab.lab;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonConstants;
import io.latentlab.config.SampleConfig;
import io.latentlab.lab.SamplingOptions.Option;
import io.latentlab.run.RunDirectory;
import io.latentlab.run.SamplingRule;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Scores a completed run's model: FID against the training images beside its floor (held-out
 * images), the FID of the VAE's reconstructions and conditional accuracy, on the features of
 * the data's scoring classifier; with an NFE table, every sampler at several step counts too. Each
 * evaluation is its own file {@code RUN/evaluation-<time>.json}, never overwritten.
 */
public final class EvaluateTask {
  /** The task's name. */
  public static final String KIND = "evaluate";
  /** The sampling options it uses: all of them. */
  public static final Set<Option> OPTIONS = EnumSet.allOf(Option.class);
  /** Their defaults: the run's own sample section (null), seed 0. */
  public static final SamplingOptions DEFAULTS = new SamplingOptions(null, null, null, 0L, null, null);
  /** Samples to score. */
  public static final int DEFAULT_SAMPLES = 1000;
  /** Model evaluations of the NFE table's columns. */
  public static final List<Integer> DEFAULT_NFES = List.of(5, 10, 20, 50);
  /** Samples per cell of the NFE table. */
  public static final int DEFAULT_TABLE_SAMPLES = 500;

  private static final ObjectMapper JSON = ResultJson.MAPPER;

  /**
   * What to evaluate and how.
   *
   * @param run the run directory
   * @param sampling the sampling options; nulls take the run's own sample section (seed: 0)
   * @param samples samples to score, in [2, data.holdout] (the held-out images give the floor)
   * @param nfeTable also score every sampler at each of {@code nfes}
   * @param nfes model evaluations for the NFE table, each positive
   * @param tableSamples samples per cell of the NFE table, in [2, data.holdout]
   * @param report with the NFE table: also write it as Markdown to this file (inside the
   *     project; relative to it), or null
   */
  public record Request(Path run, SamplingOptions sampling, int samples, boolean nfeTable, List<Integer> nfes,
      int tableSamples, Path report) {
    public Request {
      Objects.requireNonNull(run, "run");
      sampling = sampling == null ? SamplingOptions.DEFAULTS : sampling;
      nfes = List.copyOf(Objects.requireNonNull(nfes, "nfes"));
    }

    /** Every option at its default: the run's sampling, 1000 samples, no NFE table. */
    public static Request defaults(Path run) {
      return new Request(run, SamplingOptions.DEFAULTS, DEFAULT_SAMPLES, false, DEFAULT_NFES,
          DEFAULT_TABLE_SAMPLES, null);
    }
  }

  /**
   * An evaluation.
   *
   * @param result the evaluation file and what it holds ({@code evaluated_at}, {@code request},
   *     {@code score}, and {@code table}/{@code markdown} with the NFE table)
   * @param report the Markdown report written, or null
   */
  public record Result(TaskResult result, Path report) {
    /** The headline scores: FID, its floor, conditional accuracy... */
    public JsonNode score() {
      return result.json().get("score");
    }
  }

  private final Path home;

  /** @param home the project root (its {@code .venv}, {@code .cache}; reports go inside it) */
  public EvaluateTask(Path home) {
    this.home = home;
  }

  /**
   * Checks the request, then samples and scores and writes the evaluation.
   *
   * @param progress told of the stages {@code classifier}, {@code sample}, {@code evaluate}
   * @throws UsageException for a bad request (before any work)
   * @throws io.latentlab.bridge.PythonException if the work failed in Python
   */
  public Result run(Request request, ProgressListener progress) {
    try {
      return execute(request, progress);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private Result execute(Request request, ProgressListener progress) throws IOException {
    ModelRun model = ModelRun.find(request.run(), "rerun the experiment with this LatentLab to evaluate it");
    request.sampling().requireOnly(OPTIONS, KIND);
    Path reportFile = checkedReport(request);
    int holdout = model.holdout();
    if (request.samples() < 2 || request.samples() > holdout) {
      throw new UsageException("--samples must be in [2, data.holdout = " + holdout + "], got " + request.samples());
    }
    if (request.nfeTable() && (request.tableSamples() < 2 || request.tableSamples() > holdout
        || request.nfes().stream().anyMatch(n -> n < 1))) {
      throw new UsageException("--table-samples must be in [2, " + holdout + "] and --nfes positive");
    }
    PythonBridge bridge = PythonBridge.start(home);
    ObjectNode python = pythonRequest(request, model.config().sample(), bridge);
    model.data(bridge, home); // the data is there, or a one-line refusal, as for training
    JsonNode result = DenoiseTask.readTree(bridge.callForString("evaluate_run", model.checkpoint().toString(),
        model.dataJson(), home.toString(), home.resolve(".cache").toString(),
        JSON.writeValueAsString(python), progress));
    ObjectNode record = JSON.createObjectNode();
    record.put("evaluated_at", Instant.now().toString());
    record.set("request", python);
    record.setAll((ObjectNode) result);
    String name = "evaluation-" + DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
        .withZone(ZoneOffset.UTC).format(Instant.now()) + ".json";
    for (int n = 2; Files.exists(model.dir().resolve(name)); n++) {
      name = name.replaceFirst("(-\\d+)?\\.json$", "") + "-" + n + ".json";
    }
    RunDirectory.existing(model.dir()).writeText(name, JSON.writeValueAsString(record));
    Path written = null;
    if (result.has("markdown") && reportFile != null) {
      byte[] markdown = result.get("markdown").asText().getBytes(StandardCharsets.UTF_8);
      RunDirectory.writeAtomically(reportFile, stream -> stream.write(markdown));
      written = reportFile;
    }
    return new Result(new TaskResult(KIND, model.dir().resolve(name), record, List.of(), false), written);
  }

  /** Refuses unknown sampler and spacing names before anything expensive starts. */
  private static void checkNames(PythonConstants constants, ObjectNode request) {
    String sampler = request.get("sampler").asText();
    if (!constants.samplers().contains(sampler)) {
      throw new UsageException("--sampler: unknown sampler '" + sampler + "'; use one of "
          + String.join(", ", constants.samplers()));
    }
    String spacing = request.get("spacing").asText();
    if (!constants.spacings().contains(spacing)) {
      throw new UsageException("--spacing: unknown spacing '" + spacing + "'; use one of "
          + String.join(", ", constants.spacings()));
    }
  }

  /** The request Python reads; its keys and their order are what evaluation files record. */
  private static ObjectNode pythonRequest(Request request, SampleConfig recorded, PythonBridge bridge) {
    SamplingOptions chosen = request.sampling();
    ObjectNode python = JSON.createObjectNode();
    python.put("sampler", chosen.sampler() != null ? chosen.sampler() : recorded.sampler());
    python.put("steps", chosen.steps() != null ? chosen.steps() : recorded.steps());
    python.put("guidance_scale", chosen.guidance() != null ? chosen.guidance() : recorded.guidanceScale());
    python.put("spacing", chosen.spacing() != null ? chosen.spacing() : recorded.spacing());
    python.put("rho", recorded.rho());
    checkNames(PythonConstants.of(bridge), python);
    // The run's η belongs to the run's sampler: Python's rule gives another sampler its own.
    python.put("eta", SamplingRule.resolve(bridge, recorded, chosen.sampler(), null, chosen.eta(), null,
        null).eta());
    python.put("num_samples", request.samples());
    python.put("seed", chosen.seed() != null ? chosen.seed() : DEFAULTS.seed());
    if (request.nfeTable()) {
      python.set("nfes", JSON.valueToTree(request.nfes()));
      python.put("table_samples", request.tableSamples());
    }
    return python;
  }

  private Path checkedReport(Request request) {
    Path report = request.report();
    if (report == null) {
      return null;
    }
    if (!request.nfeTable()) {
      throw new UsageException("--report writes the --nfe-table; add --nfe-table");
    }
    Path file = home.resolve(report).toAbsolutePath().normalize();
    if (!file.startsWith(home) || file.getParent() == null || !Files.isDirectory(file.getParent())) {
      throw new UsageException("--report: " + report + " must be a file in an existing folder inside the project");
    }
    return file;
  }

  /** What both skins print for an evaluation: the scores, the table or report, the file. */
  public static String text(Result evaluation) {
    JsonNode score = evaluation.score();
    StringBuilder text = new StringBuilder();
    text.append(String.format("%s, %d steps (%d NFE), guidance %s, %s spacing, %d samples, seed %d%n",
        score.get("sampler").asText(), score.get("steps").asInt(), score.get("nfe").asInt(),
        score.get("guidance_scale").asText(), score.get("spacing").asText(),
        score.get("num_samples").asInt(), score.get("seed").asLong()));
    text.append(String.format("  FID                    %.3f  (%.2f× its floor)%n", score.get("fid").asDouble(),
        score.get("fid_over_floor").asDouble()));
    text.append(String.format("  FID floor (held-out)   %.3f%n", score.get("fid_floor").asDouble()));
    text.append(String.format("  FID VAE reconstruction %.3f%n", score.get("fid_vae_reconstruction").asDouble()));
    text.append(String.format("  conditional accuracy   %.4f%n", score.get("conditional_accuracy").asDouble()));
    text.append(String.format("  classifier accuracy    %.4f (held-out)%n",
        score.get("classifier_heldout_accuracy").asDouble()));
    text.append(String.format("  sampling               %.1f s%n", score.get("seconds").asDouble()));
    JsonNode json = evaluation.result().json();
    if (evaluation.report() != null) {
      text.append("report:     ").append(evaluation.report()).append(System.lineSeparator());
    } else if (json.has("markdown")) {
      text.append(System.lineSeparator()).append(json.get("markdown").asText());
    }
    text.append("evaluation: ").append(evaluation.result().file()).append(System.lineSeparator());
    return text.toString();
  }
}
