package io.latentlab.sweep.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.SweepSpec;
import io.latentlab.sweep.TrialState;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reports of synthetic plans and trial states, written to a real sweep directory. */
class SweepReportTest {
  @TempDir Path root;

  private static final Pattern IMAGE_LINK = Pattern.compile("!\\[[^\\]]*\\]\\(([^)]+)\\)");
  /** The grey level of every preview picture, so the grid's copies of them can be found. */
  private static final int PREVIEW_GREY = 0x7B;
  /** The colour PreviewGrid paints a cell without a readable preview. */
  private static final int GREY_CELL = 0xE0E0E0;

  private Path run() {
    return root.resolve("runs/mnist/0123456789ab");
  }

  private SweepDirectory directory(SweepPlan plan) {
    return SweepDirectory.open(SweepDirectory.locate(root.resolve("runs"), plan));
  }

  private static String id(int index) {
    return String.format("%012x", 0xabc000 + index);
  }

  /** sample.sampler [ddim, euler] × sample.steps [10, 50] × sample.guidance_scale [1.0, 3.0]. */
  private SweepPlan samplingPlan() {
    Map<String, List<Object>> grid = new LinkedHashMap<>();
    grid.put("sample.sampler", List.of("ddim", "euler"));
    grid.put("sample.steps", List.of(10, 50));
    grid.put("sample.guidance_scale", List.of(1.0, 3.0));
    SweepSpec spec = new SweepSpec(root.resolve("experiments/samplers.yaml"), "samplers", "0123456789ab",
        null, grid, Map.of(), null, 1, new SweepSpec.Evaluate(100, 20), 100, null);
    List<SweepPlan.PlannedTrial> trials = new ArrayList<>();
    for (Object sampler : grid.get("sample.sampler")) {
      for (Object steps : grid.get("sample.steps")) {
        for (Object guidance : grid.get("sample.guidance_scale")) {
          Map<String, Object> axes = new LinkedHashMap<>();
          axes.put("sample.sampler", sampler);
          axes.put("sample.steps", steps);
          axes.put("sample.guidance_scale", guidance);
          int index = trials.size();
          trials.add(new SweepPlan.PlannedTrial(index, id(index), axes,
              List.of("sample.sampler=" + sampler, "sample.steps=" + steps, "sample.guidance_scale=" + guidance),
              0, run()));
        }
      }
    }
    return new SweepPlan(spec, run(), trials);
  }

  /** lr [0.001, 0.01] × model.unet.channels [32, 64], two replicates of the first trial. */
  private SweepPlan trainingPlan() {
    Map<String, List<Object>> grid = new LinkedHashMap<>();
    grid.put("train.lr", List.of(0.001, 0.01));
    grid.put("model.unet.channels", List.of(32, 64));
    SweepSpec spec = new SweepSpec(root.resolve("experiments/lr.yaml"), "lr", null,
        root.resolve("experiments/mnist.yaml"), grid, Map.of(), null, 1, null, 100, null);
    List<SweepPlan.PlannedTrial> trials = new ArrayList<>();
    for (Object lr : grid.get("train.lr")) {
      for (Object channels : grid.get("model.unet.channels")) {
        int index = trials.size();
        trials.add(new SweepPlan.PlannedTrial(index, id(index),
            Map.of("train.lr", lr, "model.unet.channels", channels),
            List.of("train.lr=" + lr, "model.unet.channels=" + channels), 0,
            root.resolve("runs/mnist/" + id(index))));
      }
    }
    return new SweepPlan(spec, null, trials);
  }

  private static TrialState state(SweepPlan plan, int index, String state, Map<String, Object> metrics) {
    SweepPlan.PlannedTrial trial = plan.trials().get(index);
    Map<String, Object> axes = new LinkedHashMap<>();
    plan.columns().forEach((keyPath, column) -> axes.put(column, trial.axes().get(keyPath)));
    return new TrialState(plan.name(), trial.trial(), index, plan.kind(), state,
        TrialState.FAILED.equals(state) ? "PythonException: FloatingPointError: NaN in the latents | step 7" : null,
        TrialState.FAILED.equals(state) ? 2 : 1, Instant.parse("2026-11-26T10:00:00Z").plusSeconds(index),
        axes, metrics, trial.directory().toString());
  }

  /** FID falls with steps and with guidance; euler is better; accuracy rises with guidance. */
  private static Map<String, Object> samplingMetrics(SweepPlan plan, int index) {
    Map<String, Object> axes = plan.trials().get(index).axes();
    int steps = (Integer) axes.get("sample.steps");
    double guidance = (Double) axes.get("sample.guidance_scale");
    double fid = 40.0 - steps / 5.0 - guidance - ("euler".equals(axes.get("sample.sampler")) ? 2 : 0);
    Map<String, Object> metrics = new LinkedHashMap<>();
    metrics.put("conditional_accuracy", 0.5 + guidance / 10 + index / 1000.0);
    metrics.put("fid", fid);
    metrics.put("fid_floor", 1.5);
    metrics.put("classifier_heldout_accuracy", 0.975); // the run's: the same in every trial
    metrics.put("nfe", steps);
    metrics.put("seconds", 2.0 + steps / 10.0);
    return metrics;
  }

  private void writePreview(SweepPlan plan, int index, int imageType) throws IOException {
    BufferedImage preview = new BufferedImage(302, 62, imageType);
    for (int y = 0; y < preview.getHeight(); y++) {
      for (int x = 0; x < preview.getWidth(); x++) {
        // samples, not colours: drawing grey into a grey image goes through a gamma conversion
        if (imageType == BufferedImage.TYPE_BYTE_GRAY) {
          preview.getRaster().setSample(x, y, 0, PREVIEW_GREY);
        } else {
          preview.setRGB(x, y, PREVIEW_GREY * 0x010101);
        }
      }
    }
    Path file = run().resolve("sampling").resolve(plan.trials().get(index).trial() + ".png");
    Files.createDirectories(file.getParent());
    assertTrue(ImageIO.write(preview, "png", file.toFile()));
  }

  /** All eight trials: six completed (with previews, grey and RGB), one failed, one pending. */
  private SweepDirectory writeSamplingSweep(SweepPlan plan) throws IOException {
    SweepDirectory dir = directory(plan);
    for (int index = 0; index < 6; index++) {
      dir.writeState(state(plan, index, TrialState.COMPLETED, samplingMetrics(plan, index)));
      writePreview(plan, index, index % 2 == 0 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_3BYTE_BGR);
    }
    dir.writeState(state(plan, 6, TrialState.FAILED, Map.of()));
    return dir;
  }

  private static List<String> linkedImages(String report) {
    List<String> links = new ArrayList<>();
    Matcher matcher = IMAGE_LINK.matcher(report);
    while (matcher.find()) {
      links.add(matcher.group(1));
    }
    return links;
  }

  private static BufferedImage readImage(Path file) throws IOException {
    BufferedImage image = ImageIO.read(file.toFile());
    assertNotNull(image, file + " is a PNG that ImageIO reads");
    assertTrue(image.getWidth() >= 100 && image.getWidth() <= 8192, file + " width " + image.getWidth());
    assertTrue(image.getHeight() >= 100 && image.getHeight() <= 8192, file + " height " + image.getHeight());
    return image;
  }

  private static Set<String> plotFiles(SweepDirectory dir) throws IOException {
    Path plots = dir.path().resolve(SweepReport.PLOTS);
    if (!Files.isDirectory(plots)) {
      return Set.of();
    }
    try (Stream<Path> files = Files.list(plots)) {
      return files.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
    }
  }

  private static Optional<String> line(String report, String start) {
    return report.lines().filter(l -> l.startsWith(start)).findFirst();
  }

  @Test
  void write_samplingSweep_reportNamesKindAxesCountsBestTrialsAndEveryTrial() throws IOException {
    SweepPlan plan = samplingPlan();
    SweepDirectory dir = writeSamplingSweep(plan);

    Path file = SweepReport.write(plan, dir);

    assertEquals(dir.path().resolve("report.md"), file);
    String report = Files.readString(file);
    assertTrue(report.startsWith("# Sweep `samplers`\n"), report);
    assertTrue(report.contains("- **kind:** sampling\n"), report);
    assertTrue(report.contains("- **run:** `" + run() + "`\n"), report);
    assertTrue(report.contains("- **states:** 6 completed, 1 failed, 0 running, 1 pending\n"), report);
    assertTrue(report.contains("| `sample.sampler` | sampler | ddim, euler |"), report);
    assertTrue(report.contains("| `sample.steps` | steps | 10, 50 |"), report);
    assertTrue(report.contains("| `sample.guidance_scale` | guidance_scale | 1, 3 |"), report);

    // trial 7 (euler, 50 steps, guidance 3) would have the lowest FID, but it is still pending
    assertEquals(Optional.of("| fid | lowest | 27 | `" + id(3) + "` (#3) | "
        + "`sample.sampler=ddim` `sample.steps=50` `sample.guidance_scale=3.0` |"), line(report, "| fid |"));
    assertEquals(Optional.of("| conditional_accuracy | highest | 0.805 | `" + id(5) + "` (#5) | "
        + "`sample.sampler=euler` `sample.steps=10` `sample.guidance_scale=3.0` |"),
        line(report, "| conditional_accuracy |"));
    assertTrue(line(report, "| seconds | lowest | 3 | `" + id(0) + "`").isPresent(), report);
    assertFalse(line(report, "| nfe |").isPresent(), "nfe is a setting, not a result");
    assertFalse(line(report, "| fid_floor |").isPresent(), "the floor is the data's");
    assertFalse(line(report, "| classifier_heldout_accuracy |").isPresent(), "a constant has no best trial");
    assertTrue(report.contains("The same in every completed trial (the run's, not the trials'): "
        + "classifier_heldout_accuracy 0.975.\n"), report);

    assertTrue(report.contains("| # | trial | state | overrides | classifier_heldout_accuracy | conditional_accuracy | fid | fid_floor | nfe | seconds |"),
        report);
    assertTrue(report.contains("| 0 | `" + id(0) + "` | completed | `sample.sampler=ddim` `sample.steps=10` "
        + "`sample.guidance_scale=1.0` | 0.975 | 0.6 | 37 | 1.5 | 10 | 3 |"), report);
    assertTrue(report.contains("| 6 | `" + id(6) + "` | failed | "), report);
    assertTrue(report.contains("| 7 | `" + id(7) + "` | pending | "), report);
    assertTrue(report.contains("## Failed trials\n\n- `" + id(6)
        + "` (#6, 2 attempts): PythonException: FloatingPointError: NaN in the latents | step 7\n"), report);
  }

  @Test
  void write_samplingSweep_drawsEachChartAsAValidPngLinkedFromTheReport() throws IOException {
    SweepPlan plan = samplingPlan();
    SweepDirectory dir = writeSamplingSweep(plan);

    String report = Files.readString(SweepReport.write(plan, dir));

    assertEquals(Set.of("fid-vs-nfe-guidance_scale-1.png", "fid-vs-nfe-guidance_scale-3.png",
        "fid-vs-guidance.png", "heatmap-fid.png", "samples-grid.png"), plotFiles(dir));
    List<String> links = linkedImages(report);
    assertEquals(5, links.size(), report);
    for (String link : links) {
      assertTrue(link.startsWith("plots/"), link);
      readImage(dir.path().resolve(link));
    }
    assertTrue(report.contains("### FID vs NFE (guidance_scale = 3)"), report);
    assertTrue(report.contains("### fid by sampler and steps (lowest over guidance_scale)"), report);
  }

  @Test
  void write_samplesGrid_hasARowPerSamplerAndGuidanceAndAColumnPerStepCount() throws IOException {
    SweepPlan plan = samplingPlan();
    SweepDirectory dir = writeSamplingSweep(plan);

    String report = Files.readString(SweepReport.write(plan, dir));

    BufferedImage grid = readImage(dir.path().resolve("plots/samples-grid.png"));
    // 4 rows (sampler × guidance) and 2 columns (steps) of 302 × 62 previews, plus labels
    assertTrue(grid.getWidth() >= 2 * 302 && grid.getWidth() < 2 * 302 + 400, "width " + grid.getWidth());
    assertTrue(grid.getHeight() >= 4 * 62 && grid.getHeight() < 4 * 62 + 120, "height " + grid.getHeight());
    long previewPixels = 0;
    for (int y = 0; y < grid.getHeight(); y++) {
      for (int x = 0; x < grid.getWidth(); x++) {
        if ((grid.getRGB(x, y) & 0xFFFFFF) == (PREVIEW_GREY * 0x010101)) {
          previewPixels++;
        }
      }
    }
    // each of the six previews drawn once at its size; anti-aliased label text has a few more
    long previews = 6L * 302 * 62;
    assertTrue(previewPixels >= previews && previewPixels < previews + 500, previewPixels + " grey pixels");
    assertTrue(report.contains("### Samples (rows: sampler, guidance_scale; columns: steps)"), report);
  }

  @Test
  void write_halfDoneSweep_countsPendingTrials_andRefreshesAsTrialsFinish() throws IOException {
    SweepPlan plan = samplingPlan();
    SweepDirectory dir = directory(plan);
    dir.writeState(state(plan, 1, TrialState.COMPLETED, samplingMetrics(plan, 1)));
    dir.writeState(state(plan, 2, TrialState.RUNNING, Map.of()));

    String first = Files.readString(SweepReport.write(plan, dir));

    assertTrue(first.contains("- **states:** 1 completed, 0 failed, 1 running, 6 pending\n"), first);
    assertTrue(first.contains("| 2 | `" + id(2) + "` | running | "), first);
    assertTrue(first.contains("| 7 | `" + id(7) + "` | pending | "), first);
    assertTrue(line(first, "| fid | lowest | 35 | `" + id(1) + "`").isPresent(), first);
    assertFalse(first.contains("## Failed trials"), first);
    assertFalse(plotFiles(dir).contains("samples-grid.png"), "no preview yet");
    assertFalse(plotFiles(dir).contains("fid-vs-guidance.png"), "one guidance scale scored so far");
    for (String link : linkedImages(first)) {
      readImage(dir.path().resolve(link));
    }

    dir.writeState(state(plan, 2, TrialState.COMPLETED, samplingMetrics(plan, 2)));
    writePreview(plan, 2, BufferedImage.TYPE_BYTE_GRAY);
    String second = Files.readString(SweepReport.write(plan, dir));

    assertTrue(second.contains("- **states:** 2 completed, 0 failed, 0 running, 6 pending\n"), second);
    assertTrue(line(second, "| fid | lowest | 29 | `" + id(2) + "`").isPresent(), second);
    assertTrue(plotFiles(dir).contains("samples-grid.png"));
    assertTrue(second.contains("(plots/samples-grid.png)"), second);
  }

  @Test
  void write_noStateYet_everyTrialPendingAndNoCharts() throws IOException {
    SweepPlan plan = samplingPlan();
    SweepDirectory dir = directory(plan);

    String report = Files.readString(SweepReport.write(plan, dir));

    assertTrue(report.contains("- **states:** 0 completed, 0 failed, 0 running, 8 pending\n"), report);
    assertTrue(report.contains("None yet: charts appear as trials complete."), report);
    assertEquals(List.of(), linkedImages(report));
    assertEquals(Set.of(), plotFiles(dir));
  }

  @Test
  void write_missingOrDamagedPreview_leavesAGreyCell() throws IOException {
    SweepPlan plan = samplingPlan();
    SweepDirectory dir = writeSamplingSweep(plan);
    Files.writeString(run().resolve("sampling").resolve(id(0) + ".png"), "not a png");
    Files.delete(run().resolve("sampling").resolve(id(1) + ".png"));

    SweepReport.write(plan, dir);

    BufferedImage grid = readImage(dir.path().resolve("plots/samples-grid.png"));
    // Rows (sampler, guidance): ddim 1, ddim 3, euler 1, euler 3; columns (steps): 10, 50. Cells
    // without a readable preview: trial 0 (damaged), 1 (deleted), 6 (failed), 7 (pending).
    List<int[]> cells = cellCorners(grid);
    assertEquals(8, cells.size(), "4 rows × 2 columns of cells");
    boolean[] expectGrey = {true, false, true, false, false, true, false, true};
    for (int cell = 0; cell < cells.size(); cell++) {
      int left = cells.get(cell)[0];
      int top = cells.get(cell)[1];
      long greyCell = 0;
      long preview = 0;
      for (int y = top; y < top + 62; y++) {
        for (int x = left; x < left + 302; x++) {
          int rgb = grid.getRGB(x, y) & 0xFFFFFF;
          greyCell += rgb == GREY_CELL ? 1 : 0;
          preview += rgb == PREVIEW_GREY * 0x010101 ? 1 : 0;
        }
      }
      String where = "cell " + cell + " (row " + cell / 2 + ", column " + cell % 2 + ") at " + left + "," + top;
      if (expectGrey[cell]) {
        // painted grey, but for the few pixels of its note ("no preview", "failed", "pending")
        assertTrue(greyCell > 0.8 * 302 * 62, where + ": " + greyCell + " grey-cell pixels");
        assertEquals(0, preview, where + ": shows a preview");
      } else {
        assertEquals(302L * 62, preview, where + ": its preview, whole");
        assertEquals(0, greyCell, where + ": grey-cell pixels in a preview");
      }
    }
  }

  /**
   * The top-left corners of the grid's cells, row by row: a pixel of a preview's or a grey
   * cell's colour with white above and to its left, and its colour again 10 pixels in.
   */
  private static List<int[]> cellCorners(BufferedImage grid) {
    List<int[]> corners = new ArrayList<>();
    for (int y = 1; y + 10 < grid.getHeight(); y++) {
      for (int x = 1; x + 10 < grid.getWidth(); x++) {
        int rgb = grid.getRGB(x, y) & 0xFFFFFF;
        if ((rgb == GREY_CELL || rgb == PREVIEW_GREY * 0x010101)
            && (grid.getRGB(x - 1, y) & 0xFFFFFF) == 0xFFFFFF
            && (grid.getRGB(x, y - 1) & 0xFFFFFF) == 0xFFFFFF
            && (grid.getRGB(x + 1, y + 1) & 0xFFFFFF) == rgb
            && (grid.getRGB(x + 10, y + 10) & 0xFFFFFF) == rgb) {
          corners.add(new int[] {x, y});
        }
      }
    }
    return corners;
  }

  @Test
  void write_samplingSweep_saysWhereEachScoreComesFrom() throws IOException {
    SweepPlan plan = samplingPlan();
    SweepDirectory dir = writeSamplingSweep(plan);

    String report = Files.readString(SweepReport.write(plan, dir));

    assertTrue(report.contains("## Where the numbers come from"), report);
    assertTrue(report.contains("- **fid:** Fréchet distance between the classifier's features of the "
        + "trial's 100 samples (labels cycling 0–9, seed 0, the same across the sweep) and those of "
        + "the run's training images."), report);
    assertTrue(report.contains("- **conditional_accuracy:** the trial's own: the share of the trial's "
        + "100 samples"), report);
    assertTrue(report.contains("that the classifier reads as the class asked for"), report);
    assertTrue(report.contains("- **fid_floor:** the same distance for 100 held-out real images"), report);
  }

  @Test
  void write_unscoredTrainingSweep_hasNoScoreProvenance() throws IOException {
    SweepPlan plan = trainingPlan();
    SweepDirectory dir = directory(plan);

    String report = Files.readString(SweepReport.write(plan, dir));

    assertFalse(report.contains("## Where the numbers come from"), report);
  }

  @Test
  void logAxis_onlyForPositiveValuesSpanningAboutAnOrderOfMagnitude() {
    // FID from 3 to 210 (few steps to many): log
    assertTrue(SweepPlots.logAxis(List.of(210.0, 40.0, 9.5, 3.1)));
    // NFE 10, 20, 50, 100: log
    assertTrue(SweepPlots.logAxis(List.of(10.0, 20.0, 50.0, 100.0)));
    // FID from 14 to 25: linear
    assertFalse(SweepPlots.logAxis(List.of(14.0, 18.5, 25.0)));
    // a ratio just under the threshold: linear
    assertFalse(SweepPlots.logAxis(List.of(1.0, SweepPlots.LOG_AXIS_RATIO * 0.99)));
    // zero or negative values have no place on a log axis, however wide the range
    assertFalse(SweepPlots.logAxis(List.of(0.0, 5.0, 500.0)));
    assertFalse(SweepPlots.logAxis(List.of(-1.0, 5.0, 500.0)));
    assertFalse(SweepPlots.logAxis(List.of(7.0)));
    assertFalse(SweepPlots.logAxis(List.of()));
  }

  @Test
  void write_trainingSweep_barsPerMetric_heatMap_bestTrials_noSamplingCharts() throws IOException {
    SweepPlan plan = trainingPlan();
    SweepDirectory dir = directory(plan);
    for (int index = 0; index < 3; index++) {
      Map<String, Object> metrics = new LinkedHashMap<>();
      metrics.put("unet_final_loss", 0.30 - index * 0.05);
      metrics.put("vae_heldout_psnr_db", 20.0 + index);
      metrics.put("latent_scale", 0.9); // alike in every trial: no chart
      dir.writeState(state(plan, index, TrialState.COMPLETED, metrics));
    }

    String report = Files.readString(SweepReport.write(plan, dir));

    assertTrue(report.contains("- **kind:** training\n"), report);
    assertTrue(report.contains("- **base:** `" + root.resolve("experiments/mnist.yaml") + "`\n"), report);
    assertTrue(report.contains("| `model.unet.channels` | channels | 32, 64 |"), report);
    assertEquals(Set.of("metric-unet_final_loss.png", "metric-vae_heldout_psnr_db.png",
        "heatmap-unet_final_loss.png"), plotFiles(dir));
    for (String link : linkedImages(report)) {
      readImage(dir.path().resolve(link));
    }
    assertTrue(line(report, "| unet_final_loss | lowest | 0.2 | `" + id(2) + "` (#2) | "
        + "`train.lr=0.01` `model.unet.channels=32` |").isPresent(), report);
    assertTrue(line(report, "| vae_heldout_psnr_db | highest | 22 | `" + id(2) + "`").isPresent(), report);
    assertTrue(report.contains("- **states:** 3 completed, 0 failed, 0 running, 1 pending\n"), report);
  }

  @Test
  void write_setsHeadlessUnlessTheJvmChose() throws IOException {
    SweepPlan plan = samplingPlan();
    SweepReport.write(plan, writeSamplingSweep(plan));
    assertEquals("true", System.getProperty("java.awt.headless"));
  }

  @Test
  void metricDirection_fromTheName() {
    assertEquals(Optional.of(MetricDirection.LOWER), MetricDirection.of("fid"));
    assertEquals(Optional.of(MetricDirection.LOWER), MetricDirection.of("fid_over_floor"));
    assertEquals(Optional.of(MetricDirection.LOWER), MetricDirection.of("unet_final_loss"));
    assertEquals(Optional.of(MetricDirection.LOWER), MetricDirection.of("seconds"));
    assertEquals(Optional.of(MetricDirection.HIGHER), MetricDirection.of("conditional_accuracy"));
    assertEquals(Optional.of(MetricDirection.HIGHER), MetricDirection.of("vae_heldout_psnr_db"));
    assertEquals(Optional.empty(), MetricDirection.of("nfe"));
    assertEquals(Optional.empty(), MetricDirection.of("fid_floor"));
    assertEquals(Optional.empty(), MetricDirection.of("widgets"));
  }

  @Test
  void format_integersPlain_othersToFourSignificantDigits() {
    assertEquals("50", SweepReport.format(50.0));
    assertEquals("7", SweepReport.format(7));
    assertEquals("0.1235", SweepReport.format(0.123456));
    assertEquals("12.35", SweepReport.format(12.3456));
    assertEquals("3e-05", SweepReport.format(3e-5));
    assertEquals("1.235e+10", SweepReport.format(12345678901.5));
    assertEquals("ddim", SweepReport.format("ddim"));
    assertEquals("", SweepReport.format(null));
  }
}
