package io.latentlab.lab;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Locale;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The anomaly task's ROC chart: every score's curve on one chart, the chance diagonal dashed. */
public final class RocChart {
  /** Points of the chart per curve, plus one. */
  private static final int ROC_GRID = 200;

  private RocChart() {}

  /** The chart of an anomaly result ({@code normal}, {@code anomalous}, {@code scores}) as PNG bytes. */
  public static byte[] png(JsonNode result) {
    XYChart chart = new XYChartBuilder().width(700).height(560)
        .title(String.format(Locale.ROOT, "ROC: %d normal (digits %s) vs %d anomalous",
            result.get("normal").asInt(), result.get("normal_classes"), result.get("anomalous").asInt()))
        .xAxisTitle("false-positive rate").yAxisTitle("true-positive rate").build();
    chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
    chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
    chart.getStyler().setXAxisMin(0.0).setXAxisMax(1.0).setYAxisMin(0.0).setYAxisMax(1.0);
    for (JsonNode score : result.get("scores")) {
      // The curve read on a grid of 201 false-positive rates: drawn from its raw points (one
      // per distinct score), XChart labelled the axis with every distinct TPR (k / anomalous).
      double[] fpr = new double[ROC_GRID + 1];
      double[] tpr = stepCurve(doubles(score.get("fpr")), doubles(score.get("tpr")), fpr);
      String name = String.format(Locale.ROOT, "%s (AUROC %.3f)", score.get("name").asText(),
          score.get("auroc").asDouble());
      chart.addSeries(name, fpr, tpr).setMarker(SeriesMarkers.NONE);
    }
    chart.addSeries("chance", new double[] {0, 1}, new double[] {0, 1}).setMarker(SeriesMarkers.NONE)
        .setLineStyle(new java.awt.BasicStroke(1f, java.awt.BasicStroke.CAP_BUTT,
            java.awt.BasicStroke.JOIN_MITER, 10f, new float[] {4f, 4f}, 0f));
    try {
      return BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot draw the ROC chart", e);
    }
  }

  /**
   * The ROC step curve at evenly spaced false-positive rates: at each rate f of {@code grid}
   * (filled here), the highest TPR reached at a false-positive rate of at most f.
   */
  public static double[] stepCurve(double[] fpr, double[] tpr, double[] grid) {
    double[] values = new double[grid.length];
    int point = 0;
    double best = 0;
    for (int i = 0; i < grid.length; i++) {
      grid[i] = (double) i / (grid.length - 1);
      while (point < fpr.length && fpr[point] <= grid[i] + 1e-12) {
        best = Math.max(best, tpr[point++]);
      }
      values[i] = best;
    }
    return values;
  }

  private static double[] doubles(JsonNode array) {
    double[] values = new double[array.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = array.get(i).asDouble();
    }
    return values;
  }
}
