package io.latentlab.sweep.report;

import io.latentlab.sweep.SweepPlan;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;

/**
 * The report's charts, drawn with XChart from the completed trials: quality against NFE and
 * against guidance for sampling sweeps, a heat map over the first two axes, and a bar chart per
 * metric for training sweeps. A chart with nothing to show yet is not drawn.
 */
final class SweepPlots {
  static final String FID = "fid";
  static final String NFE = "nfe";
  static final String SAMPLER = "sampler";
  static final String STEPS = "steps";
  static final String GUIDANCE = "guidance_scale";

  /** Beyond this many lines a chart is unreadable: series then follow the sampler alone. */
  private static final int MAX_SERIES = 12;
  /** Training sweeps: at most this many metrics get a chart, in order of appearance. */
  private static final int MAX_METRIC_CHARTS = 12;
  /**
   * Values whose largest is at least this many times their smallest span about an order of
   * magnitude: a linear axis would crush the small ones against zero.
   */
  static final double LOG_AXIS_RATIO = 8;
  /** What a FID axis shows: the samples' distance from the run's training images. */
  static final String FID_AXIS = "FID (trial's samples vs the run's training images)";
  private static final int WIDTH = 800;
  private static final int HEIGHT = 500;

  /**
   * A drawn picture.
   *
   * @param file its name under {@code plots/}
   * @param title what it shows, for the report
   * @param png the PNG bytes
   */
  record Figure(String file, String title, byte[] png) {}

  private final SweepPlan plan;
  private final List<ReportTrial> trials;

  private SweepPlots(SweepPlan plan, List<ReportTrial> trials) {
    this.plan = plan;
    this.trials = trials;
  }

  /** Every chart the trials so far can fill. */
  static List<Figure> draw(SweepPlan plan, List<ReportTrial> trials) {
    SweepPlots plots = new SweepPlots(plan, trials);
    List<Figure> figures = new ArrayList<>();
    if (plan.spec().prompts()) {
      return figures; // its pictures are the result: the preview grid
    }
    if (plan.spec().sampling()) {
      figures.addAll(plots.fidAgainstNfe());
      plots.fidAgainstGuidance().ifPresent(figures::add);
    }
    plots.heatMap().ifPresent(figures::add);
    if (!plan.spec().sampling()) {
      figures.addAll(plots.metricBars());
    }
    return figures;
  }

  /** The column of the axis whose key path ends in {@code last} ({@code sample.steps}), or null. */
  static String column(SweepPlan plan, String last) {
    return plan.columns().entrySet().stream()
        .filter(e -> e.getKey().equals(last) || e.getKey().endsWith("." + last))
        .map(Map.Entry::getValue).findFirst().orElse(null);
  }

  private List<ReportTrial> completedWith(String... metrics) {
    return trials.stream().filter(ReportTrial::completed)
        .filter(t -> Arrays.stream(metrics).allMatch(m -> t.metric(m) != null))
        .toList();
  }

  /**
   * FID against NFE, a line per sampler (and per setting of the other axes but steps, which NFE
   * stands for), one chart per guidance scale where guidance is an axis.
   */
  private List<Figure> fidAgainstNfe() {
    List<ReportTrial> scored = completedWith(FID, NFE);
    if (scored.isEmpty()) {
      return List.of();
    }
    String guidance = column(plan, GUIDANCE);
    Map<String, List<ReportTrial>> byGuidance = groupBy(scored,
        t -> guidance == null ? "" : t.axisText(guidance));
    List<Figure> figures = new ArrayList<>();
    byGuidance.forEach((scale, group) -> {
      String suffix = guidance == null ? "" : " (" + guidance + " = " + scale + ")";
      XYChart chart = lineChart("FID vs NFE" + suffix, "NFE (network evaluations)", FID_AXIS);
      // Step counts usually grow geometrically (10, 20, 50, 100), and FID falls by orders of
      // magnitude from a few steps to many: log axes space them evenly.
      chart.getStyler().setXAxisLogarithmic(logAxis(group.stream().map(t -> t.metric(NFE)).toList()));
      chart.getStyler().setYAxisLogarithmic(logAxis(group.stream().map(t -> t.metric(FID)).toList()));
      addSeries(chart, group, seriesColumns(column(plan, STEPS), guidance), t -> t.metric(NFE), t -> t.metric(FID));
      figures.add(figure(guidance == null ? "fid-vs-nfe.png" : "fid-vs-nfe-" + guidance + "-" + safe(scale) + ".png",
          "FID vs NFE" + suffix, chart));
    });
    return figures;
  }

  /**
   * FID against the guidance scale, a line per sampler (and per setting of the other axes), once
   * two scales have scores.
   */
  private Optional<Figure> fidAgainstGuidance() {
    String guidance = column(plan, GUIDANCE);
    if (guidance == null) {
      return Optional.empty();
    }
    List<ReportTrial> scored = completedWith(FID).stream()
        .filter(t -> ReportTrial.finite(t.axes().get(guidance)) != null).toList();
    if (distinct(scored, t -> t.axisText(guidance)).size() < 2) {
      return Optional.empty(); // a chart of one guidance scale shows nothing FID vs NFE does not
    }
    XYChart chart = lineChart("FID vs guidance scale", "guidance scale", FID_AXIS);
    chart.getStyler().setYAxisLogarithmic(logAxis(scored.stream().map(t -> t.metric(FID)).toList()));
    addSeries(chart, scored, seriesColumns(guidance), t -> ReportTrial.finite(t.axes().get(guidance)),
        t -> t.metric(FID));
    return Optional.of(figure("fid-vs-guidance.png", "FID vs guidance scale", chart));
  }

  /**
   * The axis columns that name a line: every axis but the excluded ones, the sampler first; only
   * the sampler where that would make too many lines.
   */
  private List<String> seriesColumns(String... excluded) {
    Set<String> skip = new LinkedHashSet<>();
    for (String column : excluded) {
      if (column != null) {
        skip.add(column);
      }
    }
    List<String> columns = new ArrayList<>();
    String sampler = column(plan, SAMPLER);
    if (sampler != null) {
      columns.add(sampler);
    }
    plan.columns().values().stream().filter(c -> !skip.contains(c) && !c.equals(sampler)).forEach(columns::add);
    long lines = trials.stream().map(t -> label(t, columns)).distinct().count();
    return lines <= MAX_SERIES ? columns : sampler == null ? List.of() : List.of(sampler);
  }

  private static String label(ReportTrial trial, List<String> columns) {
    return columns.stream().map(c -> columns.size() == 1 ? trial.axisText(c) : c + "=" + trial.axisText(c))
        .reduce((a, b) -> a + ", " + b).orElse("all trials");
  }

  private static void addSeries(XYChart chart, List<ReportTrial> points, List<String> seriesColumns,
      Function<ReportTrial, Double> x, Function<ReportTrial, Double> y) {
    groupBy(points, t -> label(t, seriesColumns)).forEach((name, group) -> {
      List<ReportTrial> sorted = group.stream()
          .sorted(Comparator.comparing(x).thenComparing(y)).toList();
      chart.addSeries(name, sorted.stream().map(x).toList(), sorted.stream().map(y).toList());
    });
  }

  /**
   * The first two axes as a grid of cells coloured by FID, or else by the first metric that
   * differs between the trials; with more axes a cell shows the best value over the others.
   */
  private Optional<Figure> heatMap() {
    List<String> columns = new ArrayList<>(plan.columns().values());
    if (columns.size() < 2) {
      return Optional.empty();
    }
    String metric = completedWith(FID).isEmpty() ? firstNumericMetric() : FID;
    if (metric == null) {
      return Optional.empty();
    }
    String xColumn = columns.get(0);
    String yColumn = columns.get(1);
    List<String> xValues = distinct(trials, t -> t.axisText(xColumn));
    List<String> yValues = distinct(trials, t -> t.axisText(yColumn));
    MetricDirection direction = MetricDirection.of(metric).orElse(MetricDirection.LOWER);
    Map<List<Integer>, Double> cells = new LinkedHashMap<>();
    for (ReportTrial trial : completedWith(metric)) {
      List<Integer> cell = List.of(xValues.indexOf(trial.axisText(xColumn)), yValues.indexOf(trial.axisText(yColumn)));
      cells.merge(cell, trial.metric(metric), (a, b) -> direction.better(b, a) ? b : a);
    }
    String title = metric + " by " + xColumn + " and " + yColumn
        + (columns.size() > 2 ? " (" + direction.best + " over " + String.join(", ", columns.subList(2, columns.size())) + ")" : "");
    HeatMapChart chart = new HeatMapChartBuilder().width(WIDTH).height(HEIGHT).title(title)
        .xAxisTitle(xColumn).yAxisTitle(yColumn).build();
    chart.getStyler().setShowValue(true);
    chart.getStyler().setHeatMapDecimalValueFormatter(SweepReport::format);
    chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
    chart.getStyler().setPlotContentSize(0.95);
    if (xValues.size() > 8) {
      chart.getStyler().setXAxisLabelRotation(45);
    }
    List<Number[]> heat = new ArrayList<>();
    cells.forEach((cell, value) -> heat.add(new Number[] {cell.get(0), cell.get(1), value}));
    chart.addSeries(metric, xValues, yValues, heat);
    return Optional.of(figure("heatmap-" + safe(metric) + ".png", title, chart));
  }

  /**
   * Training sweeps: a bar per trial for each numeric metric the completed trials report,
   * except those every one of two or more trials reports alike (a stage no axis changes).
   */
  private List<Figure> metricBars() {
    List<Figure> figures = new ArrayList<>();
    for (String metric : varyingMetrics().stream().limit(MAX_METRIC_CHARTS).toList()) {
      List<ReportTrial> scored = completedWith(metric);
      int width = Math.min(3000, Math.max(WIDTH, 60 * scored.size()));
      CategoryChart chart = new CategoryChartBuilder().width(width).height(HEIGHT)
          .title(metric + " per trial").xAxisTitle("trial").yAxisTitle(metric).build();
      chart.getStyler().setLegendVisible(false);
      chart.getStyler().setXAxisLabelRotation(scored.size() > 4 ? 45 : 0);
      chart.getStyler().setXAxisMaxLabelCount(Math.max(2, scored.size())); // XChart refuses 1
      List<String> columns = new ArrayList<>(plan.columns().values());
      chart.addSeries(metric,
          scored.stream().map(t -> "#" + t.planned().index() + (columns.isEmpty() ? "" : " " + label(t, columns))).toList(),
          scored.stream().map(t -> t.metric(metric)).toList());
      figures.add(figure("metric-" + safe(metric) + ".png", metric + " per trial", chart));
    }
    return figures;
  }

  private String firstNumericMetric() {
    List<String> metrics = varyingMetrics();
    return metrics.isEmpty() ? null : metrics.get(0);
  }

  /** The numeric metrics, less those every one of two or more trials reports alike. */
  private List<String> varyingMetrics() {
    return numericMetrics().stream().filter(metric -> {
      List<ReportTrial> scored = completedWith(metric);
      return scored.size() < 2 || scored.stream().map(t -> t.metric(metric)).distinct().count() > 1;
    }).toList();
  }

  /** Metric names with a number in some completed trial, in order of first appearance. */
  private List<String> numericMetrics() {
    Set<String> names = new LinkedHashSet<>();
    trials.stream().filter(ReportTrial::completed).forEach(t -> t.metrics().forEach((name, value) -> {
      if (ReportTrial.finite(value) != null) {
        names.add(name);
      }
    }));
    return List.copyOf(names);
  }

  private static XYChart lineChart(String title, String xTitle, String yTitle) {
    XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title)
        .xAxisTitle(xTitle).yAxisTitle(yTitle).build();
    chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
    chart.getStyler().setMarkerSize(7);
    chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
    return chart;
  }

  private static Figure figure(String file, String title, Chart<?, ?> chart) {
    try {
      return new Figure(file, title, BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot encode the chart " + file, e);
    }
  }

  /**
   * Whether an axis over these values is logarithmic: every value is positive (a log axis has
   * no zero) and the largest is at least {@link #LOG_AXIS_RATIO} times the smallest.
   */
  static boolean logAxis(List<Double> values) {
    if (values.isEmpty() || values.stream().anyMatch(v -> v == null || !(v > 0) || v.isInfinite())) {
      return false;
    }
    double min = values.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
    double max = values.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
    return max / min >= LOG_AXIS_RATIO;
  }

  /** A value as part of a file name: letters, digits, '.', '-' and '_' only. */
  static String safe(String text) {
    return text.replaceAll("[^A-Za-z0-9._-]", "_");
  }

  /** Groups in order of first appearance. */
  static <K> Map<K, List<ReportTrial>> groupBy(List<ReportTrial> trials, Function<ReportTrial, K> key) {
    Map<K, List<ReportTrial>> groups = new LinkedHashMap<>();
    trials.forEach(t -> groups.computeIfAbsent(key.apply(t), k -> new ArrayList<>()).add(t));
    return groups;
  }

  /** Distinct values in order of first appearance. */
  static List<String> distinct(List<ReportTrial> trials, Function<ReportTrial, String> value) {
    return trials.stream().map(value).filter(Objects::nonNull).distinct().toList();
  }
}
