package io.latentlab.sweep;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.latentlab.config.ReadOnlyJson;
import java.time.Instant;
import java.util.Map;

/**
 * One trial's state in a sweep directory ({@code trials/<trial>.json}).
 *
 * @param sweep the sweep's name
 * @param trial the trial id (12 hex digits)
 * @param index its place in the plan
 * @param kind {@code training} or {@code sampling}
 * @param state {@code pending}, {@code running}, {@code completed} or {@code failed}
 * @param error the failure in one line, or null
 * @param attempts how many times it was started
 * @param updatedAt when this state was written
 * @param axes the trial's axis values by column name (see {@link SweepPlan#columns})
 * @param metrics its numeric results by name (completed trials)
 * @param directory the run directory (training) or the run whose checkpoint it sampled
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record TrialState(String sweep, String trial, int index, String kind, String state,
    String error, int attempts, Instant updatedAt, Map<String, Object> axes,
    Map<String, Object> metrics, String directory) {
  /** The states a trial can be in. */
  public static final String PENDING = "pending";
  /** Claimed and running. */
  public static final String RUNNING = "running";
  /** Finished; its results are in its run directory. */
  public static final String COMPLETED = "completed";
  /** Raised, went NaN, or its process died; {@code error} says how. */
  public static final String FAILED = "failed";

  /** Copies the maps read-only. */
  public TrialState {
    axes = ReadOnlyJson.map(axes == null ? Map.of() : axes);
    metrics = ReadOnlyJson.map(metrics == null ? Map.of() : metrics);
  }

  /** This state moved to {@code newState} now. */
  public TrialState with(String newState, String newError, int newAttempts,
      Map<String, Object> newMetrics) {
    return new TrialState(sweep, trial, index, kind, newState, newError, newAttempts,
        Instant.now(), axes, newMetrics, directory);
  }
}
