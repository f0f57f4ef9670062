package io.latentlab.lab;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.List;

/**
 * What a model task (evaluate, denoise, inpaint, anomaly) returns.
 *
 * @param kind the task: {@code evaluate}, {@code denoise}, {@code inpaint} or {@code anomaly}
 * @param file the result file: {@code RUN/<kind>/<settings id>.json}, or for evaluate
 *     {@code RUN/evaluation-<time>.json}
 * @param json the result as written in {@code file}
 * @param pictures the pictures written beside it (denoise's and inpaint's grids, anomaly's ROC
 *     chart); empty if none
 * @param completedEarlier true if the same settings had completed before and the stored result
 *     was read instead of redoing the work
 */
public record TaskResult(String kind, Path file, JsonNode json, List<Path> pictures, boolean completedEarlier) {
  /** The line both skins print before a result that was read back, not computed. */
  public static final String ALREADY_DONE = "already done with these settings; the completed result:";

  public TaskResult {
    pictures = List.copyOf(pictures);
  }

  /** The id of the settings that name the result ({@code ""} for evaluate, named by time). */
  public String settingsId() {
    return json.path("settings_id").asText();
  }
}
