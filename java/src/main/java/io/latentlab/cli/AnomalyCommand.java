package io.latentlab.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.run.DataSource;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code latentlab anomaly RUN}: unseen-class digits scored by diffusion, beside the VAE. */
@Command(
    name = "anomaly",
    mixinStandardHelpOptions = true,
    header = "Scores held-out digits of unseen classes as anomalies: AUROC per score.",
    description = {
        "For a run trained on some digits (data.classes), scores its held-out digits — those "
            + "classes normal, the others anomalous — with the model's reconstruction error after "
            + "partial noising to each --timesteps T (SDEdit: encode, noise to σ_T, sample back, "
            + "decode; pixel MSE) and its per-sample denoising loss over evenly spaced timesteps "
            + "(the training objective, a surrogate of the negative ELBO), beside the VAE's "
            + "reconstruction error as the baseline. Prints the AUROC of each, overall and per "
            + "unseen digit.",
        "Results go to RUN/anomaly/<settings id>.json with the ROC curves in "
            + "<settings id>-roc.png; the same settings read the completed result instead of "
            + "redoing it. Options are checked before any work."},
    footer = {"", "Examples:",
        "  ./latentlab run experiments/anomaly-mnist.yaml",
        "  ./latentlab anomaly anomaly-mnist",
        "  ./latentlab anomaly 3b0c1d2e4f5a --timesteps 50,200,400 --per-group 300"})
final class AnomalyCommand implements Callable<Integer>, ResultCommand {
  static final String KIND = "anomaly";
  private static final ObjectMapper JSON = ResultJson.MAPPER;

  @CommandLine.Mixin
  RunArgument run = new RunArgument();

  @Option(names = "--timesteps", split = ",", paramLabel = "T[,T...]", defaultValue = "100,250,500",
      description = "training timesteps of the reconstruction scores (default 100,250,500)")
  List<Integer> timesteps = new ArrayList<>();

  @Option(names = "--loss-timesteps", paramLabel = "N", defaultValue = "20",
      description = "evenly spaced timesteps the denoising loss averages (default 20)")
  int lossTimesteps;

  @Option(names = "--per-group", paramLabel = "N", defaultValue = "500",
      description = "at most N normal and N anomalous held-out digits (default 500)")
  int perGroup;

  @Option(names = "--steps", defaultValue = "20", description = "sampler steps back from σ_T (default 20)")
  int steps;

  @Option(names = "--sampler", defaultValue = "ddim", description = "sampler (default ddim)")
  String sampler;

  @Option(names = "--seed", defaultValue = "0", description = "seed of the noise (default 0)")
  int seed;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  /** The result these options name, once {@link #call()} has checked them. */
  private StoredResult stored;

  @Override
  public StoredResult stored() {
    return stored;
  }

  @Override
  public Integer call() throws IOException {
    CommandLine cli = spec.commandLine();
    PrintWriter out = cli.getOut();
    Path home = Main.home();
    ModelRun model = ModelRun.find(cli, run);
    if (model.config().data().classes() == null) {
      throw new CommandLine.ParameterException(cli, "RUN: " + model.dir() + " trained on every "
          + "class, so no digit is unseen; run a config with data.classes set to some digits "
          + "(experiments/anomaly-mnist.yaml)");
    }
    if (perGroup < 2) {
      throw new CommandLine.ParameterException(cli, "--per-group: must be >= 2, got " + perGroup);
    }
    ObjectNode request = JSON.createObjectNode();
    request.set("timesteps", JSON.valueToTree(timesteps));
    request.put("loss_timesteps", lossTimesteps);
    request.put("per_group", perGroup);
    request.put("steps", steps);
    request.put("sampler", sampler);
    request.put("seed", seed);
    PythonBridge bridge = PythonBridge.start(home);
    ObjectNode resolved = ModelRun.checkedRequest(cli, bridge, "check_anomaly_request", request);
    stored = StoredResult.of(model, KIND, resolved, null);
    if (stored.printIfCompleted(out, AnomalyCommand::print)) {
      return 0;
    }
    DataSource data = model.data(bridge, home);
    ObjectNode result;
    try (ProgressBars bars = new ProgressBars()) {
      result = (ObjectNode) JSON.readTree(bridge.callForString("anomaly_run",
          model.checkpoint().toString(), data.location().toString(), model.dataJson(),
          resolved.toString(), bars));
    } catch (PythonException e) {
      return StoredResult.failure(cli, e, "anomaly detection", "");
    }
    stored.write(result, Map.of("-roc.png", rocPng(result)), out, AnomalyCommand::print);
    return 0;
  }

  /** The ROC curve of every score on one chart, the chance diagonal dashed. */
  static byte[] rocPng(JsonNode result) {
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

  /** Points of the ROC chart per curve, plus one. */
  private static final int ROC_GRID = 200;

  /**
   * The ROC step curve at evenly spaced false-positive rates: at each rate f of {@code grid}
   * (filled here), the highest TPR reached at a false-positive rate of at most f.
   */
  static double[] stepCurve(double[] fpr, double[] tpr, double[] grid) {
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

  private static void print(PrintWriter out, JsonNode result, Path file) {
    out.printf("%d normal held-out digits (classes %s) vs %d anomalous (classes %s); AUROC:%n",
        result.get("normal").asInt(), result.get("normal_classes"),
        result.get("anomalous").asInt(), result.get("anomalous_classes"));
    out.print(result.get("markdown").asText());
    out.println("result: " + file);
    out.println("ROC:    " + file.resolveSibling(file.getFileName().toString().replace(".json", "-roc.png")));
    out.flush();
  }
}
