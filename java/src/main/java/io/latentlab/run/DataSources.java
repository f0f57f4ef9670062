package io.latentlab.run;

import com.fasterxml.jackson.databind.JsonNode;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Asks Python, which loads the data, where a config's data set is and what it holds. */
public final class DataSources {
  private DataSources() {}

  /**
   * The data set of a config.
   *
   * @param home the project root; relative data paths resolve inside it
   * @param configFile names the file in error messages
   * @param canonicalJson the config, as {@link io.latentlab.config.ConfigLoader#canonicalJson}
   *     writes it
   * @throws ConfigException in one line naming the file and key, for a data mistake (a missing
   *     folder, a path outside the project, a hold-out as large as the data set)
   */
  public static DataSource of(PythonBridge bridge, Path home, Path configFile,
      String canonicalJson) {
    return fromJson(call(bridge, configFile, "data_source", canonicalJson, home.toString()));
  }

  /**
   * Python's {@code data_summary}: {@link #of}'s JSON plus {@code grids}, the paths of a PNG
   * grid of preprocessed training images per class (one for unlabelled data), written in
   * {@code outDir}.
   *
   * @throws ConfigException in one line naming the file and key or data file, for a data mistake
   */
  public static JsonNode summary(PythonBridge bridge, Path home, Path configFile,
      String canonicalJson, Path outDir) {
    return call(bridge, configFile, "data_summary", canonicalJson, home.toString(), outDir.toString());
  }

  private static JsonNode call(PythonBridge bridge, Path configFile, String function, Object... args) {
    try {
      return RunArtifacts.readJson(bridge.callForString(function, args));
    } catch (PythonException e) {
      if ("ValueError".equals(e.pythonType())) {
        throw new ConfigException(configFile + ": " + e.pythonMessage());
      }
      throw e;
    }
  }

  /**
   * Reads {@code data_source}'s JSON: {@code location}, {@code files}, {@code examples}, and,
   * where the Python side reports them, {@code fingerprint}, {@code classes}, {@code counts}
   * (per class name), {@code shape} and {@code skipped}.
   */
  public static DataSource fromJson(JsonNode reply) {
    Map<String, String> files = new LinkedHashMap<>();
    reply.path("files").fields().forEachRemaining(f -> files.put(f.getKey(), f.getValue().asText()));
    List<String> classes = new ArrayList<>();
    reply.path("classes").forEach(name -> classes.add(name.asText()));
    List<Long> counts = new ArrayList<>();
    JsonNode byName = reply.path("counts");
    if (byName.isObject() && !classes.isEmpty()) {
      classes.forEach(name -> counts.add(byName.path(name).asLong(0)));
    }
    List<Integer> shape = new ArrayList<>();
    reply.path("shape").forEach(side -> shape.add(side.asInt()));
    JsonNode fingerprint = reply.get("fingerprint");
    return new DataSource(Path.of(reply.path("location").asText()), files,
        reply.path("examples").asLong(), fingerprint == null || fingerprint.isNull() ? null
            : fingerprint.asText(), classes, counts, shape, reply.path("skipped").asLong(0));
  }
}
