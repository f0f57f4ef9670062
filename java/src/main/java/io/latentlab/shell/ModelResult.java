package io.latentlab.shell;

import com.fasterxml.jackson.databind.JsonNode;
import io.latentlab.lab.TaskResult;
import java.nio.file.Path;
import java.util.List;

/**
 * What {@code lab.evaluate}, {@code lab.denoise}, {@code lab.inpaint} and {@code lab.anomaly}
 * return: the stored result {@code RUN/<command>/<settings id>.json} (for evaluate
 * {@code RUN/evaluation-<time>.json}) and its pictures. Its {@code toString} is one line; the
 * table was printed when the task ran.
 */
public final class ModelResult {
  private final Lab lab;
  private final TaskResult result;

  private ModelResult(Lab lab, TaskResult result) {
    this.lab = lab;
    this.result = result;
  }

  static ModelResult of(Lab lab, TaskResult result) {
    return new ModelResult(lab, result);
  }

  /** {@code evaluate}, {@code denoise}, {@code inpaint} or {@code anomaly}. */
  public String command() {
    return result.kind();
  }

  /** The lab's typed result: file, JSON, pictures, whether it was read from an earlier run. */
  public TaskResult result() {
    return result;
  }

  /** True if the same settings had completed before and the stored result was read. */
  public boolean completedEarlier() {
    return result.completedEarlier();
  }

  /** The result file, {@code RUN/<command>/<settings id>.json}. */
  public Path file() {
    return result.file();
  }

  /** The result as written: settings, per-method rows or scores, accuracies. */
  public JsonNode json() {
    return result.json();
  }

  /** The id of the settings that name the result (the same settings read it back). */
  public String settingsId() {
    return result.settingsId();
  }

  /** The result's pictures: {@code <settings id>*.png} beside the file. */
  public List<Path> pictures() {
    return result.pictures();
  }

  /** E.g. {@code denoise 3fa1c09d2b7e runs/quickstart/f116.../denoise/3fa1c09d2b7e.json (1 picture)}. */
  @Override
  public String toString() {
    int pictures = pictures().size();
    String id = settingsId().isEmpty() ? "" : settingsId() + " ";
    return command() + " " + id + lab.display(file()) + " (" + pictures
        + (pictures == 1 ? " picture)" : " pictures)");
  }
}
