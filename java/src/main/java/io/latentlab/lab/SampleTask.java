package io.latentlab.lab;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.lab.SamplingOptions.Option;
import io.latentlab.run.ModelResults;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Text to image with an imported Stable Diffusion model ({@code ./latentlab import}): prompts
 * in, PNGs out. The request is checked against the model by Python before anything loads; the
 * images go to a folder named by the model's weights and the resolved request,
 * {@code <runs>/samples/<model>/<12 hex digits>/} ({@code images.png}, their grid;
 * {@code image-000.png} ...; {@code result.json}, written last), unless the request names
 * another. A completed folder is never written again: the same request reads it back.
 *
 * <p>Calls Python through the project's one bridge; not for concurrent use on one folder.
 */
public final class SampleTask {
  /** The task's name. */
  public static final String KIND = "sample";
  /** Where samples go by default, under the runs root. */
  public static final Path SAMPLES = Path.of("samples");
  /** The sampling options it uses: all of them. */
  public static final Set<Option> OPTIONS = EnumSet.allOf(Option.class);
  /**
   * Their defaults: DDIM, 50 steps, guidance 7.5, seed 0 (diffusers' Stable Diffusion
   * defaults); η the sampler's own and the spacing the model's scheduler's (null: Python fills
   * them from the sampler and the model).
   */
  public static final SamplingOptions DEFAULTS = new SamplingOptions("ddim", 50, null, 0L, 7.5, null);
  /** Images per prompt. */
  public static final int DEFAULT_IMAGES = 1;
  /** What marks a folder under {@code models/} as an imported model. */
  public static final String MODEL_FILE = "sd_model.json";
  /** What marks a samples folder complete. */
  public static final String RESULT_FILE = "result.json";

  private static final ObjectMapper JSON = ResultJson.MAPPER;

  /**
   * What to sample.
   *
   * @param model an imported model: its name under {@code models/}, or the path of its folder
   *     inside the project
   * @param prompts the prompts, at least one; an empty one samples unconditionally
   * @param negativePrompt what guidance steers away from; "" (or null) is the unconditional
   *     embedding
   * @param size the images' width and height in pixels, or null for the model's own
   * @param images images per prompt, at least 1
   * @param sampling sampler, steps, η, seed, guidance and spacing; nulls take {@link #DEFAULTS}
   * @param out the folder to write to (inside the project or the runs root), or null for
   *     {@code <runs>/samples/<model>/<request id>/}
   * @param initImage image to image (SDEdit): the picture to start from, anywhere readable, or
   *     null for text to image
   * @param strength with {@code initImage}: how much of the noise schedule is sampled, in
   *     (0, 1] (null: 0.8, or 1.0 with a mask); near 0 keeps the picture, 1 starts from almost
   *     pure noise
   * @param mask with {@code initImage}: inpainting; white is sampled anew, black kept, or null
   */
  public record Request(String model, List<String> prompts, String negativePrompt, Integer size,
      int images, SamplingOptions sampling, Path out, Path initImage, Double strength, Path mask) {
    /** @throws UsageException if no model or no prompt is given */
    public Request {
      if (model == null || model.isBlank()) {
        throw new UsageException("MODEL: name an imported model (see ./latentlab import)");
      }
      if (prompts == null || prompts.isEmpty()) {
        throw new UsageException("--prompt: give at least one prompt");
      }
      prompts = List.copyOf(prompts);
      negativePrompt = negativePrompt == null ? "" : negativePrompt;
      sampling = sampling == null ? SamplingOptions.DEFAULTS : sampling;
    }

    /** One prompt, everything else at its default. */
    public static Request of(String model, String prompt) {
      return new Request(model, List.of(prompt), "", null, DEFAULT_IMAGES, SamplingOptions.DEFAULTS, null,
          null, null, null);
    }
  }

  /**
   * Sampled images.
   *
   * @param model the model's name
   * @param folder where they are
   * @param grid all of them in one picture ({@code images.png})
   * @param images one PNG per image, each prompt's together, in the order of the prompts
   * @param json {@code result.json}: {@code model}, {@code weights_sha256}, {@code request}
   *     (resolved: every option filled), {@code images} (file, prompt, tokens truncated),
   *     {@code warnings}, {@code seconds}, {@code environment}
   * @param completedEarlier true if the same request had completed before and was read back
   */
  public record Result(String model, Path folder, Path grid, List<Path> images, JsonNode json,
      boolean completedEarlier) {
    public Result {
      images = List.copyOf(images);
    }

    /** Python's warnings when it sampled them: prompts cut to the text encoder's length. */
    public List<String> warnings() {
      List<String> warnings = new ArrayList<>();
      json.path("warnings").forEach(w -> warnings.add(w.asText()));
      return warnings;
    }

    /** What both skins print: the settings, then where the images are. */
    public String text() {
      JsonNode request = json.path("request");
      StringBuilder out = new StringBuilder();
      if (completedEarlier) {
        out.append(TaskResult.ALREADY_DONE).append(System.lineSeparator());
      }
      out.append(String.format(Locale.ROOT, "model:   %s (weights sha256 %s)%n", model,
          json.path("weights_sha256").asText()));
      out.append(String.format(Locale.ROOT, "sampled: %d × %d px, %s, %d steps, %s spacing, η %s, guidance %s, seed %d%n",
          request.path("size").asInt(), request.path("size").asInt(), request.path("sampler").asText(),
          request.path("steps").asInt(), request.path("spacing").asText(), request.path("eta").asText(),
          request.path("guidance_scale").asText(), request.path("seed").asLong()));
      if (request.hasNonNull("init_image")) {
        out.append(String.format(Locale.ROOT, "from:    %s (sha256 %s), strength %s: the last %d of %d steps%n",
            request.path("init_image").asText(), request.path("init_image_sha256").asText(),
            request.path("strength").asText(), json.path("steps_sampled").asInt(),
            request.path("steps").asInt()));
        if (request.hasNonNull("mask")) {
          out.append(String.format(Locale.ROOT, "mask:    %s (sha256 %s): white sampled, black kept%n",
              request.path("mask").asText(), request.path("mask_sha256").asText()));
        }
      }
      out.append("grid:    ").append(grid).append(System.lineSeparator());
      JsonNode described = json.path("images");
      for (int i = 0; i < images.size(); i++) {
        out.append(i == 0 ? "images:  " : "         ").append(images.get(i)).append("  ")
            .append(quoted(described.path(i).path("prompt").asText())).append(System.lineSeparator());
      }
      out.append("result:  ").append(folder.resolve(RESULT_FILE)).append(System.lineSeparator());
      return out.toString();
    }

    private static String quoted(String prompt) {
      return prompt.isEmpty() ? "(empty prompt: unconditional)" : "\"" + prompt + "\"";
    }
  }

  private final Path home;
  private final Path runsDir;

  /**
   * @param home the project root (models are under its {@code models/})
   * @param runsDir the runs root; samples go to its {@code samples/}
   */
  public SampleTask(Path home, Path runsDir) {
    this.home = home.toAbsolutePath().normalize();
    this.runsDir = runsDir.toAbsolutePath().normalize();
  }

  /**
   * Checks the request, then reads the completed samples of the same request or samples and
   * writes them. Nothing is written if a check fails.
   *
   * @param progress told of the stage {@code sample} (0 of the steps while compiling and
   *     sampling, all of them when done)
   * @throws UsageException in one line for an unknown model, a bad option (a size the model
   *     cannot divide, an unknown sampler, a step count, guidance or η out of range...) or an
   *     {@code out} folder that holds another request's samples
   * @throws PythonException if sampling failed in Python
   */
  public Result run(Request request, ProgressListener progress) {
    Checked checked = check(request);
    Result done = completed(checked.folder(), checked.model(), checked.resolved(),
        checked.weights(), request.out());
    if (done != null) {
      return done;
    }
    JsonNode result = parse(python(checked.bridge(), checked.model(), "sample_text_to_image",
        checked.model().toString(), checked.resolved().toString(), checked.folder().toString(),
        progress));
    return result(checked.model(), checked.folder(), result, false);
  }

  /**
   * Checks the request as {@link #run} does and returns the folder its images go to (named by
   * the request's id unless it has {@code out}); writes nothing.
   *
   * @throws UsageException in one line, as {@link #run} does
   */
  public Path folderFor(Request request) {
    return check(request).folder();
  }

  /** A request Python checked: every option resolved, the weights' hash, its folder. */
  private record Checked(PythonBridge bridge, Path model, JsonNode resolved, String weights,
      Path folder) {}

  private Checked check(Request request) {
    Path model = modelFolder(request.model());
    request.sampling().requireOnly(OPTIONS, KIND);
    PythonBridge bridge = PythonBridge.start(home);
    JsonNode checked = parse(python(bridge, model, "check_sample_request", model.toString(),
        pythonRequest(request).toString()));
    JsonNode resolved = checked.get("request");
    String weights = checked.get("weights_sha256").asText();
    // samples are filed under the model's own name (an import's is its folder's; a trained
    // model's is its experiment and trial, its folder being checkpoint/model)
    String name = checked.path("model").asText("");
    if (!name.matches("[A-Za-z0-9_-][A-Za-z0-9._-]*")) {
      name = model.getFileName().toString();
    }
    return new Checked(bridge, model, resolved, weights, outFolder(request, name, resolved, weights));
  }

  /** The names of the imported models under {@code models/}, sorted. */
  public static List<String> importedModels(Path home) {
    Path models = home.resolve(ImportTask.MODELS);
    if (!Files.isDirectory(models)) {
      return List.of();
    }
    try (Stream<Path> folders = Files.list(models)) {
      return folders.filter(f -> Files.isRegularFile(f.resolve(MODEL_FILE)))
          .map(f -> f.getFileName().toString()).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + models, e);
    }
  }

  /**
   * The imported model's folder: {@code models/<name>}, or a folder inside the project or the
   * runs folder (the path relative to the working directory, the project or the runs folder)
   * that holds {@link #MODEL_FILE}: a text run writes its model in its run directory.
   *
   * @throws UsageException naming the imported models if there is no such model
   */
  public Path modelFolder(String model) {
    List<Path> candidates = new ArrayList<>();
    if (!model.contains("/") && !model.contains("\\") && !model.startsWith(".")) {
      candidates.add(home.resolve(ImportTask.MODELS).resolve(model));
    }
    candidates.add(Path.of(model).toAbsolutePath().normalize());
    candidates.add(home.resolve(model).normalize());
    candidates.add(runsDir.resolve(model).normalize()); // a text run's checkpoint/model
    for (Path folder : candidates) {
      boolean confined = folder.startsWith(home) || folder.startsWith(runsDir);
      if (confined && Files.isRegularFile(folder.resolve(MODEL_FILE))) {
        return folder;
      }
    }
    List<String> known = importedModels(home);
    throw new UsageException("MODEL '" + model + "': no imported model of that name or folder in the project; "
        + (known.isEmpty() ? "none imported yet" : "imported: " + String.join(", ", known))
        + " (./latentlab import PATH adds one)");
  }

  /** The request as Python reads it: every key, nulls for what the model or sampler decides. */
  private static ObjectNode pythonRequest(Request request) {
    SamplingOptions chosen = request.sampling().orElse(DEFAULTS);
    ObjectNode python = JSON.createObjectNode();
    python.set("prompts", JSON.valueToTree(request.prompts()));
    python.put("negative_prompt", request.negativePrompt());
    python.put("guidance_scale", chosen.guidance());
    python.put("steps", chosen.steps());
    python.put("sampler", chosen.sampler());
    python.put("spacing", chosen.spacing());
    python.put("eta", chosen.eta());
    python.putNull("rho");
    python.put("size", request.size());
    python.put("seed", chosen.seed());
    python.put("num_images", request.images());
    python.put("init_image", absolute(request.initImage()));
    python.put("strength", request.strength());
    python.put("mask", absolute(request.mask()));
    return python;
  }

  private static String absolute(Path file) {
    return file == null ? null : file.toAbsolutePath().normalize().toString();
  }

  /**
   * Calls Python; a ValueError (a refused option or model, one line) becomes a
   * {@link UsageException}: an option's message starts with its name, given its dashes here.
   */
  private static String python(PythonBridge bridge, Path model, String function, Object... args) {
    try {
      return bridge.callForString(function, args);
    } catch (PythonException e) {
      if (!"ValueError".equals(e.pythonType())) {
        throw e;
      }
      String message = e.pythonMessage();
      throw new UsageException(message.startsWith(model.toString()) ? message : "--" + message);
    }
  }

  /**
   * {@code out}, checked to be inside the project or the runs root, or
   * {@code <runs>/samples/<model>/<id>}: the id is the settings id ({@link ModelResults}) of
   * the resolved request's canonical JSON and the weights' hash, so the same request on the
   * same weights names the same folder.
   */
  private Path outFolder(Request request, String model, JsonNode resolved, String weights) {
    if (request.out() != null) {
      Path out = home.resolve(request.out()).toAbsolutePath().normalize();
      if (!out.startsWith(home) && !out.startsWith(runsDir)) {
        throw new UsageException("--out: " + request.out() + " must be inside the project or the runs folder");
      }
      if (Files.exists(out) && !Files.isDirectory(out)) {
        throw new UsageException("--out: " + request.out() + " is a file; name a folder");
      }
      return out;
    }
    String canonical;
    try {
      canonical = JSON.writeValueAsString(JSON.treeToValue(resolved, Object.class));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    return runsDir.resolve(SAMPLES).resolve(model)
        .resolve(ModelResults.settingsId(KIND, canonical, weights));
  }

  /**
   * The completed samples in {@code folder}, or null if it holds none.
   *
   * @throws UsageException if they are another request's (a folder given as {@code --out})
   */
  private static Result completed(Path folder, Path model, JsonNode resolved, String weights, Path out) {
    Path file = folder.resolve(RESULT_FILE);
    if (!Files.isRegularFile(file)) {
      return null;
    }
    JsonNode json;
    try {
      json = JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
    if (!json.path("request").equals(resolved) || !json.path("weights_sha256").asText().equals(weights)) {
      throw new UsageException((out != null ? "--out: " : "") + folder + " holds the samples of another request or "
          + "model (" + RESULT_FILE + "); it is never overwritten: choose another folder");
    }
    return result(model, folder, json, true);
  }

  private static Result result(Path model, Path folder, JsonNode json, boolean completedEarlier) {
    List<Path> images = new ArrayList<>();
    json.path("images").forEach(i -> images.add(folder.resolve(i.path("file").asText())));
    return new Result(json.path("model").asText(model.getFileName().toString()), folder,
        folder.resolve(json.path("grid").asText()), images, json, completedEarlier);
  }

  private static JsonNode parse(String text) {
    try {
      return JSON.readTree(text);
    } catch (IOException e) {
      throw new UncheckedIOException("unreadable reply from Python", e);
    }
  }
}
