package io.latentlab.run;

import com.fasterxml.jackson.databind.JsonNode;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Asks Python, which loads the data, where a config's data set is and what it holds. */
public final class DataSources {
  private DataSources() {}

  /**
   * The data set of a config.
   *
   * @param home the project root; data paths resolve inside it
   * @param configFile names the file in error messages
   * @param canonicalJson the config, as {@link io.latentlab.config.ConfigLoader#canonicalJson}
   *     writes it
   * @throws ConfigException in one line naming the file and key, for a data mistake (a missing
   *     folder, a path outside the project, a hold-out as large as the data set)
   */
  public static DataSource of(PythonBridge bridge, Path home, Path configFile,
      String canonicalJson) {
    JsonNode reply;
    try {
      reply = RunArtifacts.readJson(bridge.callForString("data_source", canonicalJson,
          home.toString()));
    } catch (PythonException e) {
      if ("ValueError".equals(e.pythonType())) {
        throw new ConfigException(configFile + ": " + e.pythonMessage());
      }
      throw e;
    }
    Map<String, String> files = new LinkedHashMap<>();
    reply.path("files").fields().forEachRemaining(f -> files.put(f.getKey(), f.getValue().asText()));
    return new DataSource(Path.of(reply.path("location").asText()), files,
        reply.path("examples").asLong());
  }
}
