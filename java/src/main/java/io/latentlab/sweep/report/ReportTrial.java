package io.latentlab.sweep.report;

import io.latentlab.config.ConfigLoader;
import io.latentlab.sweep.PromptTrials;
import io.latentlab.sweep.SamplingTrials;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.TrialState;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One planned trial as a report sees it: its axis values by column name, and its last written
 * state (a trial with no state file yet is pending).
 *
 * @param planned the trial in the plan
 * @param axes its axis values, column name → value, in the plan's axis order
 * @param state its state, or null if none has been written yet
 */
record ReportTrial(SweepPlan.PlannedTrial planned, Map<String, Object> axes, TrialState state) {

  /** The plan's trials, in plan order, each with its state if it has one. */
  static List<ReportTrial> of(SweepPlan plan, Map<String, TrialState> states) {
    Map<String, String> columns = plan.columns();
    return plan.trials().stream().map(trial -> {
      Map<String, Object> axes = new LinkedHashMap<>();
      columns.forEach((keyPath, column) -> axes.put(column, trial.axes().get(keyPath)));
      return new ReportTrial(trial, axes, states.get(trial.trial()));
    }).toList();
  }

  /** The trial id. */
  String id() {
    return planned.trial();
  }

  /** {@code pending} until a state is written, then the state's. */
  String stateName() {
    return state == null ? TrialState.PENDING : state.state();
  }

  boolean completed() {
    return TrialState.COMPLETED.equals(stateName());
  }

  /** Its metrics; none before a state with metrics is written. */
  Map<String, Object> metrics() {
    return state == null ? Map.of() : state.metrics();
  }

  /** A finite numeric metric, or null. */
  Double metric(String name) {
    return finite(metrics().get(name));
  }

  /** An axis value as text ({@code null} for a missing one). */
  String axisText(String column) {
    return SweepReport.format(axes.get(column));
  }

  /**
   * Where the trial's preview picture is, or null if it has none: a prompt trial's is its
   * pictures' grid; a sampling trial's is {@code <run>/sampling/<trial>.png}; a scored training trial's is its scoring's, in its own
   * run's {@code sampling/} folder.
   */
  Path preview(SweepPlan plan) {
    if (plan.spec().prompts()) {
      return PromptTrials.preview(planned.directory());
    }
    if (plan.spec().sampling()) {
      Path run = planned.directory() != null ? planned.directory() : plan.runDirectory();
      return run == null ? null : SamplingTrials.previewFile(run, id());
    }
    if (plan.spec().evaluate() == null || !completed()) {
      return null;
    }
    try {
      return SamplingTrials.previewFile(planned.directory(), SamplingTrials.ownTrial(
          new ConfigLoader(), planned.directory(), plan.spec().evaluate()));
    } catch (RuntimeException unreadable) {
      return null; // its config or provenance is gone: a grey cell
    }
  }

  /** A finite number as a double, or null for anything else (text, NaN, missing). */
  static Double finite(Object value) {
    if (value instanceof Number number && Double.isFinite(number.doubleValue())) {
      return number.doubleValue();
    }
    return null;
  }
}
