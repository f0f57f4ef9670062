package io.latentlab.sweep.report;

import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.TrialState;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * A sweep's report: {@code report.md} in the sweep directory, with the charts it shows under
 * {@code plots/}, drawn from the trial states written so far, so it can be refreshed each time a
 * trial finishes and read while the sweep runs. It gives the sweep's kind and axes, how many
 * trials are in each state, the charts (quality against NFE and against guidance, a heat map
 * over the first two axes, the samples side by side, per-metric bars for training sweeps), the
 * best trial for each metric whose name says which way is better, every trial with its
 * overrides and metrics, and the failed trials' errors.
 *
 * <p>Charts are drawn into memory, never onto a screen, so this class sets
 * {@code java.awt.headless=true} when it loads unless the JVM already chose (a JVM that wants
 * windows as well passes {@code -Djava.awt.headless=false}).
 *
 * <p>Thread-safe: every file is written atomically, so concurrent refreshes (worker processes
 * finishing trials) never leave a half-written file; the last one wins.
 */
public final class SweepReport {
  /** The report's file in the sweep directory. */
  public static final String REPORT = "report.md";
  /** The charts' folder in the sweep directory. */
  public static final String PLOTS = "plots";

  /** Axis values listed for an axis before the rest are counted instead (random axes). */
  private static final int MAX_LISTED_VALUES = 12;

  static {
    if (System.getProperty("java.awt.headless") == null) {
      System.setProperty("java.awt.headless", "true");
    }
  }

  private SweepReport() {}

  /**
   * Writes the report of a sweep as its trials stand now: the charts first, then
   * {@code report.md}, so the report never links a chart not yet written. Trials without a
   * state file count as pending; a sampling trial's preview ({@code <run>/sampling/<trial>.png})
   * is shown where present.
   *
   * @param plan the sweep's plan
   * @param dir its sweep directory
   * @return the report file
   */
  public static Path write(SweepPlan plan, SweepDirectory dir) {
    List<ReportTrial> trials = ReportTrial.of(plan, dir.states(plan));
    List<SweepPlots.Figure> figures = new ArrayList<>(SweepPlots.draw(plan, trials));
    if (plan.spec().sampling() || plan.spec().prompts() || plan.spec().evaluate() != null) {
      PreviewGrid.draw(plan, trials).ifPresent(figures::add);
    }
    for (SweepPlots.Figure figure : figures) {
      dir.write(PLOTS + "/" + figure.file(), figure.png());
    }
    dir.write(REPORT, markdown(plan, trials, figures).getBytes(StandardCharsets.UTF_8));
    return dir.path().resolve(REPORT);
  }

  static String markdown(SweepPlan plan, List<ReportTrial> trials, List<SweepPlots.Figure> figures) {
    StringBuilder md = new StringBuilder();
    md.append("# Sweep `").append(plan.name()).append("`\n\n");
    md.append("- **kind:** ").append(plan.kind()).append('\n');
    if (plan.spec().sampling()) {
      md.append("- **run:** `").append(plan.runDirectory() != null ? plan.runDirectory() : plan.spec().run()).append("`\n");
    } else if (plan.spec().prompts()) {
      md.append("- **model:** `").append(plan.spec().model()).append("`; each trial's pictures are ")
          .append("in `<runs>/samples/").append(plan.spec().model()).append("/<trial>/` with its ")
          .append("`result.json` (the resolved request, the weights' SHA-256)\n");
    } else if (plan.spec().base() != null) {
      md.append("- **base:** `").append(plan.spec().base()).append("`\n");
    }
    if (!plan.spec().sampling() && plan.spec().evaluate() != null) {
      md.append("- **scored:** each trained trial sampled ").append(plan.spec().evaluate().samples())
          .append(" times with its own `sample.*` settings: FID beside its floor, conditional "
              + "accuracy\n");
    }
    md.append("- **plan:** `").append(plan.hash()).append("`, ").append(trials.size()).append(" trials\n");
    md.append("- **states:** ").append(stateCounts(trials)).append('\n');
    trials.stream().map(ReportTrial::state).filter(Objects::nonNull).map(TrialState::updatedAt)
        .filter(Objects::nonNull).max(Instant::compareTo)
        .ifPresent(last -> md.append("- **last update:** ").append(last).append('\n'));

    if (plan.spec().sampling() || plan.spec().evaluate() != null) {
      md.append("\n## Where the numbers come from\n\n").append(provenanceOfScores(plan));
    }

    md.append("\n## Axes\n\n");
    if (plan.columns().isEmpty()) {
      md.append("None: every trial has the same settings.\n");
    } else {
      md.append("| axis | column | values |\n|---|---|---|\n");
      plan.columns().forEach((keyPath, column) -> {
        List<String> values = SweepPlots.distinct(trials, t -> t.axisText(column));
        String listed = values.size() <= MAX_LISTED_VALUES ? String.join(", ", values)
            : String.join(", ", values.subList(0, MAX_LISTED_VALUES)) + ", … (" + values.size() + " values)";
        md.append("| `").append(keyPath).append("` | ").append(column).append(" | ").append(cell(listed)).append(" |\n");
      });
    }

    md.append("\n## Plots\n\n");
    if (figures.isEmpty()) {
      md.append("None yet: charts appear as trials complete.\n");
    }
    for (SweepPlots.Figure figure : figures) {
      md.append("### ").append(figure.title()).append("\n\n![").append(figure.title()).append("](")
          .append(PLOTS).append('/').append(figure.file()).append(")\n\n");
    }

    List<String> metrics = metricNames(trials);
    md.append("\n## Best trials\n\n");
    List<String> best = bestRows(trials, metrics);
    if (best.isEmpty()) {
      md.append("None yet: no completed trial reports a metric whose name says which way is better.\n");
    } else {
      md.append("| metric | best | value | trial | overrides |\n|---|---|---|---|---|\n");
      best.forEach(md::append);
    }
    List<String> constant = metrics.stream().filter(m -> MetricDirection.of(m).isPresent())
        .filter(m -> sameInEveryCompletedTrial(trials, m))
        .map(m -> m + " " + format(trials.stream().filter(ReportTrial::completed).findFirst().orElseThrow().metric(m)))
        .toList();
    if (!constant.isEmpty()) {
      md.append("\nThe same in every completed trial (the run's, not the trials'): ")
          .append(String.join(", ", constant)).append(".\n");
    }

    md.append("\n## Trials\n\n");
    boolean replicates = trials.stream().anyMatch(t -> t.planned().replicate() > 0);
    List<String> header = new ArrayList<>(List.of("#", "trial", "state", "overrides"));
    if (replicates) {
      header.add("replicate");
    }
    header.addAll(metrics);
    md.append("| ").append(header.stream().map(SweepReport::cell).collect(Collectors.joining(" | "))).append(" |\n");
    md.append("|").append("---|".repeat(header.size())).append('\n');
    for (ReportTrial trial : trials) {
      List<String> row = new ArrayList<>(List.of(String.valueOf(trial.planned().index()),
          "`" + trial.id() + "`", trial.stateName(), overrides(trial)));
      if (replicates) {
        row.add(String.valueOf(trial.planned().replicate()));
      }
      metrics.forEach(m -> row.add(cell(format(trial.metrics().get(m)))));
      md.append("| ").append(String.join(" | ", row)).append(" |\n");
    }

    List<ReportTrial> failed = trials.stream().filter(t -> TrialState.FAILED.equals(t.stateName())).toList();
    if (!failed.isEmpty()) {
      md.append("\n## Failed trials\n\n");
      for (ReportTrial trial : failed) {
        String error = trial.state().error();
        md.append("- `").append(trial.id()).append("` (#").append(trial.planned().index()).append(", ")
            .append(trial.state().attempts()).append(trial.state().attempts() == 1 ? " attempt" : " attempts")
            .append("): ").append(error == null ? "no error recorded" : error.strip().replace('\n', ' '))
            .append('\n');
      }
    }
    return md.toString();
  }

  /**
   * What each score of a scored trial measures and against what, as the evaluation
   * ({@code latentlab/evaluate.py}) computes it: a reader must not take the run's numbers for
   * the trial's, nor a FID against training images for one against held-out images.
   */
  static String provenanceOfScores(SweepPlan plan) {
    int n = plan.spec().evaluate().samples();
    String samples = "the trial's " + n + " samples (labels cycling 0–9, seed 0, the same across the sweep)";
    String run = plan.spec().sampling() ? "the run's" : "its run's"; // a trained trial is a run
    return "Each trial is scored on its own samples, drawn with "
        + (plan.spec().sampling() ? "the run's checkpoint and the trial's `sample.*` settings"
            : "its own trained checkpoint and its own `sample.*` settings")
        + "; features and labels come from " + run + " scoring classifier (trained once on " + run
        + " training split).\n\n"
        + "- **fid:** Fréchet distance between the classifier's features of " + samples
        + " and those of " + run + " training images.\n"
        + "- **fid_floor:** the same distance for " + n + " held-out real images: what a perfect "
        + "generator scores with this many samples; **fid_vae_reconstruction**, for the VAE's "
        + "reconstructions of them; **fid_over_floor** = fid / fid_floor. The floors are the "
        + "data's, not the trial's.\n"
        + "- **conditional_accuracy:** the trial's own: the share of " + samples
        + " that the classifier reads as the class asked for.\n"
        + "- **classifier_heldout_accuracy:** the classifier's accuracy on the held-out real "
        + "images: " + run + ", not the trial's.\n"
        + "- **nfe:** network evaluations per sample of the trial's sampler and steps; "
        + "**seconds:** the time to sample and decode the trial's samples.\n";
  }

  /** Counts in a fixed order, then any other state a newer executor may write. */
  private static String stateCounts(List<ReportTrial> trials) {
    Map<String, Long> counts = new LinkedHashMap<>();
    for (String state : List.of(TrialState.COMPLETED, TrialState.FAILED, TrialState.RUNNING, TrialState.PENDING)) {
      counts.put(state, 0L);
    }
    trials.forEach(t -> counts.merge(t.stateName(), 1L, Long::sum));
    return counts.entrySet().stream().map(e -> e.getValue() + " " + e.getKey()).collect(Collectors.joining(", "));
  }

  /** Metric names of all trials, in order of first appearance. */
  private static List<String> metricNames(List<ReportTrial> trials) {
    Set<String> names = new LinkedHashSet<>();
    trials.forEach(t -> names.addAll(t.metrics().keySet()));
    return List.copyOf(names);
  }

  /** One table row per metric with a direction: its best completed trial (the first on ties). */
  private static List<String> bestRows(List<ReportTrial> trials, List<String> metrics) {
    List<String> rows = new ArrayList<>();
    for (String metric : metrics) {
      MetricDirection direction = MetricDirection.of(metric).orElse(null);
      if (direction == null || sameInEveryCompletedTrial(trials, metric)) {
        continue; // a constant has no best trial
      }
      ReportTrial best = null;
      for (ReportTrial trial : trials) {
        Double value = trial.completed() ? trial.metric(metric) : null;
        if (value != null && (best == null || direction.better(value, best.metric(metric)))) {
          best = trial;
        }
      }
      if (best != null) {
        rows.add("| " + cell(metric) + " | " + direction.best + " | " + format(best.metric(metric)) + " | `"
            + best.id() + "` (#" + best.planned().index() + ") | " + overrides(best) + " |\n");
      }
    }
    return rows;
  }

  /** True if at least two trials completed and all report the same value of {@code metric}. */
  private static boolean sameInEveryCompletedTrial(List<ReportTrial> trials, String metric) {
    List<Double> values = trials.stream().filter(ReportTrial::completed).map(t -> t.metric(metric)).toList();
    return values.size() >= 2 && values.stream().allMatch(v -> v != null && v.equals(values.get(0)));
  }

  private static String overrides(ReportTrial trial) {
    return trial.planned().overrides().stream().map(o -> "`" + cell(o).replace("`", "'") + "`")
        .collect(Collectors.joining(" "));
  }

  /** Text fit for one Markdown table cell. */
  private static String cell(String text) {
    return text.replace("|", "\\|").replaceAll("\\s*\\R\\s*", " ");
  }

  /**
   * A value for people: integers as they are, other numbers to 4 significant digits (plain
   * between 1e-4 and 1e9, else like {@code 3e-05}); empty for null.
   */
  static String format(Object value) {
    if (value == null) {
      return "";
    }
    if (value instanceof Double || value instanceof Float) {
      double number = ((Number) value).doubleValue();
      if (!Double.isFinite(number)) {
        return String.valueOf(number);
      }
      if (number == Math.rint(number) && Math.abs(number) < 1e15) {
        return String.valueOf((long) number);
      }
      double magnitude = Math.abs(number);
      if (magnitude >= 1e-4 && magnitude < 1e9) {
        return new BigDecimal(number).round(new MathContext(4)).stripTrailingZeros().toPlainString();
      }
      return String.format(Locale.ROOT, "%.3e", number).replaceAll("\\.?0+e", "e");
    }
    return value.toString();
  }
}
