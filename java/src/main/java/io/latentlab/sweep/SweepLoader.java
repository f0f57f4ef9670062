package io.latentlab.sweep;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.config.ConfigException;
import io.latentlab.config.ConfigLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads sweep files strictly, like configs: unknown keys, wrong types, empty or duplicate axes,
 * none or several of {@code run:}, {@code base:} and {@code model:} are refused in one line naming the file,
 * line:column and key. Axis keys and values are checked against the config they vary when the
 * sweep is planned ({@link SweepPlanner}), still before any trial runs.
 *
 * <p>Thread-safe.
 */
public final class SweepLoader {
  private static final Set<String> TOP = Set.of("sweep", "run", "base", "model", "grid", "zip",
      "random", "replicates", "evaluate", "max_trials", "slurm");
  private static final Set<String> RANDOM = Set.of("n", "seed", "space");
  private static final Set<String> EVALUATE = Set.of("samples", "preview");
  private static final Set<String> SLURM = Set.of("partition", "time", "memory", "cpus", "gpus",
      "max_parallel", "retries", "nodes", "tasks_per_node");
  private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9_-]{0,63}");
  private static final Pattern KEY_PATH = Pattern.compile("[a-z_][a-z0-9_]*(\\.[a-z_][a-z0-9_]*)*");
  /** Distributions of a random space: name(arguments). */
  static final Pattern DISTRIBUTION = Pattern.compile(
      "(uniform|loguniform|int|choice)\\(\\s*(.*?)\\s*\\)");
  /** Default samples of a sampling trial's score, and of its preview picture. */
  static final int DEFAULT_SAMPLES = 500;
  static final int DEFAULT_PREVIEW = 10;
  static final int DEFAULT_MAX_TRIALS = 1000;

  private final ConfigLoader yaml = new ConfigLoader();

  /**
   * Loads a sweep file.
   *
   * @throws ConfigException in one line naming the file, position and key
   */
  public SweepSpec load(Path file) {
    ConfigLoader.YamlMapping mapping = yaml.readMapping(file);
    Reader r = new Reader(file, mapping);
    ObjectNode top = mapping.tree();
    r.onlyKeys(top, "", TOP);
    String name = r.string(top, "sweep", true);
    if (!NAME.matcher(name).matches()) {
      throw r.error("sweep", "'" + name + "' is not allowed; use 1-64 lower-case letters, digits, '-' or '_'");
    }
    String run = r.string(top, "run", false);
    String base = r.string(top, "base", false);
    String model = r.string(top, "model", false);
    List<String> targets = new ArrayList<>();
    for (String key : List.of("run", "base", "model")) {
      if (top.has(key)) {
        targets.add(key);
      }
    }
    if (targets.size() != 1) {
      throw r.error(targets.isEmpty() ? "sweep" : targets.get(1), targets.isEmpty()
          ? "say what to sweep: run: <completed run> (sampling), base: <config file> (training) "
              + "or model: <imported model> (prompts)"
          : "give one of run: (a sampling sweep over a completed run), base: (a training sweep over "
              + "a config) or model: (a prompt sweep over an imported model), not " + targets.get(0)
              + " and " + targets.get(1));
    }
    Path basePath = null;
    if (base != null) {
      Path dir = file.toAbsolutePath().normalize().getParent();
      basePath = dir.resolve(base).normalize();
      if (!Files.isRegularFile(basePath)) {
        throw r.error("base", "no such config " + basePath + " (base: is relative to the sweep file)");
      }
    }
    Map<String, List<Object>> grid = r.axes(top, "grid");
    Map<String, List<Object>> zip = r.axes(top, "zip");
    if (!zip.isEmpty()) {
      int length = zip.values().iterator().next().size();
      for (Map.Entry<String, List<Object>> axis : zip.entrySet()) {
        if (axis.getValue().size() != length) {
          throw r.error("zip." + axis.getKey(), "zip lists advance together, so all need one length; "
              + "this has " + axis.getValue().size() + ", the first " + length);
        }
      }
    }
    SweepSpec.RandomSpace random = r.random(top);
    List<String> axes = new ArrayList<>(grid.keySet());
    for (String key : zip.keySet()) {
      r.unique(axes, key, "zip." + key);
    }
    if (random != null) {
      for (String key : random.space().keySet()) {
        r.unique(axes, key, "random.space." + key);
      }
    }
    if (axes.isEmpty()) {
      throw r.error("sweep", "no axes: add grid:, zip: or random: with the config keys to vary");
    }
    if (run != null) {
      for (String axis : axes) {
        if (!axis.startsWith("sample.")) {
          throw r.error(r.axisPath(axis), "a sampling sweep varies only sample.* keys; "
              + "to vary " + axis + ", sweep the training with base: <config>");
        }
      }
    }
    if (model != null) {
      for (String axis : axes) {
        if (!PromptTrials.AXES.contains(axis)) {
          throw r.error(r.axisPath(axis), "a prompt sweep varies only "
              + String.join(", ", PromptTrials.AXES));
        }
      }
      if (!axes.contains(PromptTrials.PROMPT)) {
        throw r.error("sweep", "a prompt sweep needs the axis " + PromptTrials.PROMPT
            + " (under grid:, zip: or random:), with one or more prompts");
      }
      if (top.has("evaluate")) {
        throw r.error("evaluate", "a prompt sweep is not scored (no reference images for a "
            + "prompt); its report shows the pictures");
      }
    }
    int replicates = r.integer(top, "replicates", 1, 1, 100);
    if (run != null && replicates != 1) {
      throw r.error("replicates", "a sampling sweep has no replicates (the run's model is fixed)");
    }
    if (model != null && replicates != 1) {
      throw r.error("replicates", "a prompt sweep has no replicates; vary sample.seed instead");
    }
    SweepSpec.Evaluate evaluate = model != null ? null : r.evaluate(top, run != null);
    int maxTrials = r.integer(top, "max_trials", DEFAULT_MAX_TRIALS, 1, 1_000_000);
    SweepSpec.Slurm slurm = r.slurm(top);
    return new SweepSpec(file.toAbsolutePath().normalize(), name, run, basePath, grid, zip, random,
        replicates, evaluate, maxTrials, slurm, model);
  }

  /** Reads sections with positions for errors. */
  private static final class Reader {
    private final Path file;
    private final ConfigLoader.YamlMapping mapping;
    private final Map<String, String> axisSections = new LinkedHashMap<>();

    Reader(Path file, ConfigLoader.YamlMapping mapping) {
      this.file = file;
      this.mapping = mapping;
    }

    ConfigException error(String keyPath, String message) {
      return new ConfigException(mapping.where(keyPath, file) + ": " + keyPath + ": " + message);
    }

    /** The section path an axis was written under, for its position. */
    String axisPath(String axis) {
      return axisSections.getOrDefault(axis, "sweep");
    }

    void onlyKeys(JsonNode section, String path, Set<String> allowed) {
      Iterator<String> names = section.fieldNames();
      while (names.hasNext()) {
        String key = names.next();
        if (!allowed.contains(key)) {
          String full = path.isEmpty() ? key : path + "." + key;
          throw error(full, "unknown key; allowed: " + String.join(", ", new java.util.TreeSet<>(allowed)));
        }
      }
    }

    String string(JsonNode section, String path, boolean required) {
      String key = path.substring(path.lastIndexOf('.') + 1);
      JsonNode value = section.get(key);
      if (value == null || value.isNull()) {
        if (required) {
          throw new ConfigException(file + ": " + key + ": required key is missing");
        }
        return null;
      }
      if (!value.isTextual() || value.asText().isBlank()) {
        throw error(path, "expected a string");
      }
      return value.asText();
    }

    int integer(JsonNode section, String path, int defaultValue, int low, int high) {
      String key = path.substring(path.lastIndexOf('.') + 1);
      JsonNode value = section.get(key);
      if (value == null || value.isNull()) {
        return defaultValue;
      }
      if (!value.isIntegralNumber() || value.asLong() < low || value.asLong() > high) {
        throw error(path, "expected an integer in [" + low + ", " + high + "], got " + value);
      }
      return value.asInt();
    }

    ObjectNode section(JsonNode parent, String key) {
      JsonNode value = parent.get(key);
      if (value == null || value.isNull()) {
        return null;
      }
      if (!(value instanceof ObjectNode object)) {
        throw error(key, "expected a mapping of keys");
      }
      return object;
    }

    Map<String, List<Object>> axes(ObjectNode top, String sectionName) {
      Map<String, List<Object>> axes = new LinkedHashMap<>();
      ObjectNode section = section(top, sectionName);
      if (section == null) {
        return axes;
      }
      section.fields().forEachRemaining(entry -> {
        String key = entry.getKey();
        String path = sectionName + "." + key;
        checkKeyPath(key, path);
        if (!entry.getValue().isArray() || entry.getValue().isEmpty()) {
          throw error(path, "expected a non-empty list of values, e.g. [ddim, euler]");
        }
        List<Object> values = new ArrayList<>();
        for (JsonNode item : entry.getValue()) {
          values.add(scalar(item, path));
        }
        if (new java.util.HashSet<>(values).size() != values.size() && sectionName.equals("grid")) {
          throw error(path, "a value is listed twice; each grid value makes its own trials");
        }
        axes.put(key, List.copyOf(values));
        axisSections.put(key, path);
      });
      return axes;
    }

    void checkKeyPath(String key, String path) {
      if (!KEY_PATH.matcher(key).matches()) {
        throw error(path, "an axis is a config key path such as sample.steps or train.unet.learning_rate");
      }
    }

    Object scalar(JsonNode item, String path) {
      if (item.isTextual()) {
        return item.asText();
      }
      if (item.isIntegralNumber()) {
        return item.asLong();
      }
      if (item.isNumber()) {
        return item.asDouble();
      }
      if (item.isBoolean()) {
        return item.asBoolean();
      }
      throw error(path, "values must be numbers, strings or booleans, got " + item);
    }

    void unique(List<String> axes, String key, String path) {
      if (axes.contains(key)) {
        throw error(path, key + " is already an axis (" + axisSections.get(key) + "); each key may be varied once");
      }
      axes.add(key);
    }

    SweepSpec.RandomSpace random(ObjectNode top) {
      ObjectNode section = section(top, "random");
      if (section == null) {
        return null;
      }
      onlyKeys(section, "random", RANDOM);
      int n = integer(section, "random.n", -1, 1, 100_000);
      if (n < 1) {
        throw error("random", "random.n: how many draws; required");
      }
      JsonNode seed = section.get("seed");
      if (seed != null && !seed.isIntegralNumber()) {
        throw error("random.seed", "expected an integer");
      }
      ObjectNode space = section(section, "space");
      if (space == null || space.isEmpty()) {
        throw error("random", "random.space: the keys to draw, e.g. {train.unet.learning_rate: loguniform(1e-4, 3e-3)}");
      }
      Map<String, String> distributions = new LinkedHashMap<>();
      space.fields().forEachRemaining(entry -> {
        String path = "random.space." + entry.getKey();
        checkKeyPath(entry.getKey(), path);
        if (!entry.getValue().isTextual() || !DISTRIBUTION.matcher(entry.getValue().asText().strip()).matches()) {
          throw error(path, "expected uniform(a, b), loguniform(a, b), int(a, b) or choice(x, y, ...)");
        }
        try {
          RandomDraws.parse(entry.getValue().asText());
        } catch (IllegalArgumentException e) {
          throw error(path, e.getMessage());
        }
        distributions.put(entry.getKey(), entry.getValue().asText().strip());
        axisSections.put(entry.getKey(), path);
      });
      return new SweepSpec.RandomSpace(n, seed == null ? 0 : seed.asLong(), distributions);
    }

    /** A sampling sweep is always scored (by default with DEFAULT_SAMPLES); a training sweep
     * only when it has an {@code evaluate:} section. */
    SweepSpec.Evaluate evaluate(ObjectNode top, boolean sampling) {
      ObjectNode section = section(top, "evaluate");
      if (section == null) {
        return sampling ? new SweepSpec.Evaluate(DEFAULT_SAMPLES, DEFAULT_PREVIEW) : null;
      }
      onlyKeys(section, "evaluate", EVALUATE);
      return new SweepSpec.Evaluate(integer(section, "evaluate.samples", DEFAULT_SAMPLES, 2, 100_000),
          integer(section, "evaluate.preview", DEFAULT_PREVIEW, 0, 100));
    }

    SweepSpec.Slurm slurm(ObjectNode top) {
      ObjectNode section = section(top, "slurm");
      if (section == null) {
        return new SweepSpec.Slurm(null, null, null, null, null, null, null, null, null);
      }
      onlyKeys(section, "slurm", SLURM);
      return new SweepSpec.Slurm(string(section, "slurm.partition", false),
          string(section, "slurm.time", false), string(section, "slurm.memory", false), optionalInt(section, "slurm.cpus", 1, 1024),
          optionalInt(section, "slurm.gpus", 0, 64), optionalInt(section, "slurm.max_parallel", 1, 100_000),
          optionalInt(section, "slurm.retries", 0, 10), optionalInt(section, "slurm.nodes", 1, 100_000),
          optionalInt(section, "slurm.tasks_per_node", 1, 1024));
    }

    Integer optionalInt(ObjectNode section, String path, int low, int high) {
      String key = path.substring(path.lastIndexOf('.') + 1);
      return section.hasNonNull(key) ? integer(section, path, 0, low, high) : null;
    }
  }
}
