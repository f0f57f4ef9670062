package io.latentlab.sweep;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.config.ConfigException;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.lab.SampleTask;
import io.latentlab.lab.SamplingOptions;
import io.latentlab.lab.UsageException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Prompt trials: one {@link SampleTask} request each, over an imported text-to-image model.
 * A prompt sweep ({@code model: NAME} in a sweep file) crosses the axes below; every setting
 * not on an axis takes the sample command's default. A trial's id is its request's id, and its
 * pictures are the folder {@code ./latentlab sample} writes for the same request
 * ({@code <runs>/samples/<model>/<id>/}), so a trial already sampled, by a sweep or by hand, is
 * read back, not sampled again.
 */
public final class PromptTrials {
  /** The axis every prompt sweep has. */
  public static final String PROMPT = "sample.prompt";
  /** The axes a prompt sweep may vary, the sample command's options. */
  public static final List<String> AXES = List.of(PROMPT, "sample.negative_prompt",
      "sample.guidance_scale", "sample.sampler", "sample.steps", "sample.spacing", "sample.eta",
      "sample.seed", "sample.size", "sample.images");
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The sample command's option for each axis: what its error messages start with. */
  private static final Map<String, String> FLAGS = Map.of(PROMPT, "--prompt",
      "sample.negative_prompt", "--negative-prompt", "sample.guidance_scale", "--guidance",
      "sample.sampler", "--sampler", "sample.steps", "--steps", "sample.spacing", "--spacing",
      "sample.eta", "--eta", "sample.seed", "--seed", "sample.size", "--size",
      "sample.images", "--images");

  private PromptTrials() {}

  /**
   * The sample request of one trial.
   *
   * @param model the sweep's model
   * @param axes the trial's axis values, key path → value
   * @throws ConfigException naming the axis whose value has the wrong type
   */
  public static SampleTask.Request request(String model, Map<String, Object> axes) {
    Object prompt = axes.get(PROMPT);
    return new SampleTask.Request(model, List.of(text(PROMPT, prompt)),
        text("sample.negative_prompt", axes.getOrDefault("sample.negative_prompt", "")),
        whole(axes, "sample.size"), axes.containsKey("sample.images")
            ? whole(axes, "sample.images") : SampleTask.DEFAULT_IMAGES,
        new SamplingOptions(name(axes, "sample.sampler"), whole(axes, "sample.steps"),
            number(axes, "sample.eta"), axes.containsKey("sample.seed")
                ? (long) whole(axes, "sample.seed") : null,
            number(axes, "sample.guidance_scale"), name(axes, "sample.spacing")),
        null, null, null, null);
  }

  /**
   * Checks a trial's request against the model (Python checks every option, writing nothing)
   * and returns the folder its pictures go to; its name is the trial id.
   *
   * @throws ConfigException naming the axis value the model or sampler refuses
   */
  public static Path folder(SampleTask task, String model, Map<String, Object> axes) {
    try {
      return task.folderFor(request(model, axes));
    } catch (UsageException e) {
      throw new ConfigException("override '" + axisOf(e.getMessage(), axes) + "': " + e.getMessage());
    }
  }

  /** Samples a trial (or reads it back) and returns its metrics (see {@link #metrics}). */
  public static Map<String, Object> run(SampleTask task, String model, Map<String, Object> axes,
      ProgressListener progress) {
    return metrics(task.run(request(model, axes), progress).json());
  }

  /** The metrics of a trial whose pictures are in {@code folder}, or null if there are none. */
  public static Map<String, Object> completed(Path folder) {
    JsonNode result = result(folder);
    return result == null ? null : metrics(result);
  }

  /** The {@code result.json} of the pictures in {@code folder}, or null if it is not there. */
  private static JsonNode result(Path folder) {
    Path file = folder.resolve(SampleTask.RESULT_FILE);
    if (!Files.isRegularFile(file)) {
      return null;
    }
    try {
      return JSON.readTree(file.toFile());
    } catch (IOException e) {
      return null; // unreadable: running the trial again says why or writes it anew
    }
  }

  /**
   * A trial's metrics from its {@code result.json}: {@code sample_seconds} (sampling and
   * decoding, compiling included where this process had not compiled it), {@code images} and
   * {@code weights_sha256}.
   */
  static Map<String, Object> metrics(JsonNode result) {
    Map<String, Object> metrics = new LinkedHashMap<>();
    metrics.put("sample_seconds", result.path("seconds").path("sample").asDouble());
    metrics.put("images", result.path("images").size());
    metrics.put("weights_sha256", result.path("weights_sha256").asText());
    return metrics;
  }

  /** A trial's picture, all its images in one grid (the file its result names), or null. */
  public static Path preview(Path folder) {
    JsonNode result = result(folder);
    return result == null ? null : folder.resolve(result.path("grid").asText());
  }

  /** The axis an option's message is about ("--steps: ..." → sample.steps), else the prompt. */
  private static String axisOf(String message, Map<String, Object> axes) {
    for (String axis : axes.keySet()) {
      String flag = FLAGS.get(axis);
      if (flag != null && (message.startsWith(flag + ":") || message.startsWith(flag + " "))) {
        return axis + "=" + axes.get(axis);
      }
    }
    return PROMPT + "=" + axes.get(PROMPT);
  }

  private static String text(String axis, Object value) {
    if (!(value instanceof String text)) {
      throw new ConfigException("override '" + axis + "=" + value + "': must be text (quote it)");
    }
    return text;
  }

  private static String name(Map<String, Object> axes, String axis) {
    Object value = axes.get(axis);
    return value == null ? null : text(axis, value);
  }

  private static Integer whole(Map<String, Object> axes, String axis) {
    Object value = axes.get(axis);
    if (value == null) {
      return null;
    }
    if (value instanceof Integer || value instanceof Long) {
      return ((Number) value).intValue();
    }
    throw new ConfigException("override '" + axis + "=" + value + "': must be a whole number");
  }

  private static Double number(Map<String, Object> axes, String axis) {
    Object value = axes.get(axis);
    if (value == null) {
      return null;
    }
    if (value instanceof Number number) {
      return number.doubleValue();
    }
    throw new ConfigException("override '" + axis + "=" + value + "': must be a number");
  }
}
