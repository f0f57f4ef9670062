package io.latentlab.shell;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * What {@code lab.denoise}, {@code lab.inpaint} and {@code lab.anomaly} return: the stored
 * result {@code RUN/<command>/<settings id>.json} and its pictures. Its {@code toString} is one
 * line; the table was printed when the command ran.
 */
public final class ModelResult {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Lab lab;
  private final String command;
  private final Path file;
  private final JsonNode json;

  private ModelResult(Lab lab, String command, Path file, JsonNode json) {
    this.lab = lab;
    this.command = command;
    this.file = file;
    this.json = json;
  }

  static ModelResult read(Lab lab, String command, Path file) {
    try {
      return new ModelResult(lab, command, file, JSON.readTree(file.toFile()));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  /** {@code denoise}, {@code inpaint} or {@code anomaly}. */
  public String command() {
    return command;
  }

  /** The result file, {@code RUN/<command>/<settings id>.json}. */
  public Path file() {
    return file;
  }

  /** The result as written: settings, per-method rows or scores, accuracies. */
  public JsonNode json() {
    return json;
  }

  /** The id of the settings that name the result (the same settings read it back). */
  public String settingsId() {
    return json.path("settings_id").asText();
  }

  /** The result's pictures: {@code <settings id>*.png} beside the file. */
  public List<Path> pictures() {
    String id = file.getFileName().toString().replace(".json", "");
    try (Stream<Path> files = Files.list(file.getParent())) {
      return files.filter(p -> p.getFileName().toString().startsWith(id)
          && p.getFileName().toString().endsWith(".png")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + file.getParent(), e);
    }
  }

  /** E.g. {@code denoise 3fa1c09d2b7e runs/quickstart/f116.../denoise/3fa1c09d2b7e.json (1 picture)}. */
  @Override
  public String toString() {
    int pictures = pictures().size();
    return command + " " + settingsId() + " " + lab.display(file) + " (" + pictures
        + (pictures == 1 ? " picture)" : " pictures)");
  }
}
