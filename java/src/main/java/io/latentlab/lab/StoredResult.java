package io.latentlab.lab;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.run.ModelResults;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One result of a model task (denoise, inpaint, anomaly) in its run's directory
 * ({@link ModelResults}): named by the task's resolved settings, read back when it is complete,
 * written once.
 *
 * @param model the run whose model the task applies
 * @param kind the task, also the result folder's name
 * @param id the settings id
 */
record StoredResult(ModelRun model, String kind, String id) {

  /**
   * The result of these settings on this run's model.
   *
   * @param settings the resolved settings (what names the result)
   * @param input a file the result reads, whose content names it too, or null
   */
  static StoredResult of(ModelRun model, String kind, JsonNode settings, Path input) throws IOException {
    String canonical = ResultJson.MAPPER.writeValueAsString(ResultJson.MAPPER.readTree(settings.toString()));
    return new StoredResult(model, kind, ModelResults.settingsId(kind, canonical, model.dir(), input));
  }

  /** {@code RUN/<kind>/<id>.json}. */
  Path file() {
    return ModelResults.resultFile(model.dir(), kind, id);
  }

  /** The completed result (asking again never redoes the work), or null if there is none. */
  TaskResult completed(List<String> pictureSuffixes) throws IOException {
    if (!ModelResults.completed(model.dir(), kind, id)) {
      return null;
    }
    return new TaskResult(kind, file(), ResultJson.MAPPER.readTree(file().toFile()),
        existing(pictureSuffixes), true);
  }

  /** Records the settings id in {@code record}, writes the pictures then the JSON. */
  TaskResult write(ObjectNode record, Map<String, byte[]> pictures) throws IOException {
    record.put("settings_id", id);
    ModelResults.write(model.dir(), kind, id, pictures, ResultJson.MAPPER.writeValueAsBytes(record));
    return new TaskResult(kind, file(), record, existing(List.copyOf(pictures.keySet())), false);
  }

  /** The pictures {@code <id><suffix>} that exist beside the result, in the order given. */
  private List<Path> existing(List<String> suffixes) {
    List<Path> found = new ArrayList<>();
    for (String suffix : suffixes) {
      Path picture = file().resolveSibling(id + suffix);
      if (Files.isRegularFile(picture)) {
        found.add(picture);
      }
    }
    return found;
  }
}
