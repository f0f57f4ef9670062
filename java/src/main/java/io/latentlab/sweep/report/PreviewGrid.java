package io.latentlab.sweep.report;

import io.latentlab.sweep.PromptTrials;
import io.latentlab.sweep.SweepPlan;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.imageio.ImageIO;

/**
 * The trials' preview pictures side by side, {@code plots/samples-grid.png}: a row per
 * sampler (and per setting of the other axes), a column per step count (or else the second
 * axis), each labelled; a trial without a preview yet is a grey cell saying its state. A
 * scored training sweep's trials show their scoring's previews.
 */
final class PreviewGrid {
  static final String FILE = "samples-grid.png";

  /** Previews are shrunk to fit a cell of at most this size; smaller ones keep their size. */
  private static final int MAX_CELL_WIDTH = 320;
  private static final int MAX_CELL_HEIGHT = 240;
  /** Keeps the grid a picture a browser opens, however large the sweep. */
  private static final int MAX_SIDE = 8192;
  private static final int GAP = 8;
  private static final Font FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 13);

  private PreviewGrid() {}

  /** The grid, if at least one trial has a readable preview. */
  static Optional<SweepPlots.Figure> draw(SweepPlan plan, List<ReportTrial> trials) {
    Map<String, BufferedImage> previews = new HashMap<>();
    for (ReportTrial trial : trials) {
      read(trial.preview(plan)).ifPresent(image -> previews.put(trial.id(), image));
    }
    if (previews.isEmpty()) {
      return Optional.empty();
    }
    // Axes with one value label nothing.
    List<String> axes = new ArrayList<>(plan.columns().values().stream()
        .filter(axis -> SweepPlots.distinct(trials, t -> t.axisText(axis)).size() > 1).toList());
    String columnAxis = plan.spec().sampling() ? SweepPlots.column(plan, SweepPlots.STEPS) : null;
    if (columnAxis != null && !axes.contains(columnAxis)) {
      columnAxis = null;
    }
    // A prompt sweep: a row per prompt, the first other axis across.
    String prompt = plan.spec().prompts() ? plan.columns().get(PromptTrials.PROMPT) : null;
    if (prompt != null && !axes.contains(prompt)) {
      prompt = null;
    }
    if (prompt != null) {
      String rowAxis = prompt;
      columnAxis = axes.stream().filter(axis -> !axis.equals(rowAxis)).findFirst().orElse(null);
    }
    if (columnAxis == null && axes.size() >= 2 && prompt == null) {
      columnAxis = axes.get(1);
    }
    List<String> rowAxes = new ArrayList<>();
    if (prompt != null) {
      rowAxes.add(prompt);
    }
    String sampler = SweepPlots.column(plan, SweepPlots.SAMPLER);
    if (sampler != null && !sampler.equals(columnAxis)) {
      rowAxes.add(sampler);
    }
    for (String axis : axes) {
      if (!axis.equals(columnAxis) && !rowAxes.contains(axis)) {
        rowAxes.add(axis);
      }
    }
    String finalColumnAxis = columnAxis;
    List<String> rows = SweepPlots.distinct(trials, t -> rowLabel(t, rowAxes));
    List<String> columns = SweepPlots.distinct(trials,
        t -> finalColumnAxis == null ? "" : finalColumnAxis + "=" + t.axisText(finalColumnAxis));
    Map<String, ReportTrial> cells = new HashMap<>();
    for (ReportTrial trial : trials) {
      String column = finalColumnAxis == null ? "" : finalColumnAxis + "=" + trial.axisText(finalColumnAxis);
      cells.putIfAbsent(rowLabel(trial, rowAxes) + "\n" + column, trial);
    }

    int previewWidth = previews.values().stream().mapToInt(BufferedImage::getWidth).max().orElse(1);
    int previewHeight = previews.values().stream().mapToInt(BufferedImage::getHeight).max().orElse(1);
    double scale = Math.min(1, Math.min((double) MAX_CELL_WIDTH / previewWidth, (double) MAX_CELL_HEIGHT / previewHeight));
    FontMetrics metrics = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics().getFontMetrics(FONT);
    int labelWidth = rows.stream().mapToInt(metrics::stringWidth).max().orElse(0) + 2 * GAP;
    int headerHeight = metrics.getHeight() + 2 * GAP;
    int cellWidth = Math.max((int) Math.round(previewWidth * scale),
        columns.stream().mapToInt(metrics::stringWidth).max().orElse(0));
    int cellHeight = (int) Math.round(previewHeight * scale);
    // A huge sweep shrinks its cells rather than making a picture too large to open.
    double fit = Math.min(1, Math.min(
        (double) (MAX_SIDE - labelWidth) / (columns.size() * (cellWidth + GAP) + GAP),
        (double) (MAX_SIDE - headerHeight) / (rows.size() * (cellHeight + GAP) + GAP)));
    scale *= fit;
    cellWidth = Math.max(1, (int) (cellWidth * fit));
    cellHeight = Math.max(1, (int) (cellHeight * fit));
    int width = labelWidth + columns.size() * (cellWidth + GAP) + GAP;
    int height = headerHeight + rows.size() * (cellHeight + GAP) + GAP;

    BufferedImage grid = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = grid.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      // Pixel art of a few samples: shrink smoothly, never blur a preview shown at its size.
      g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, scale < 1
          ? RenderingHints.VALUE_INTERPOLATION_BILINEAR : RenderingHints.VALUE_INTERPOLATION_NEAREST_NEIGHBOR);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, width, height);
      g.setFont(FONT);
      g.setColor(Color.BLACK);
      int baseline = GAP + metrics.getAscent();
      for (int c = 0; c < columns.size(); c++) {
        g.drawString(columns.get(c), labelWidth + GAP + c * (cellWidth + GAP), baseline);
      }
      for (int r = 0; r < rows.size(); r++) {
        int top = headerHeight + r * (cellHeight + GAP);
        g.setColor(Color.BLACK);
        g.drawString(rows.get(r), GAP, top + (cellHeight + metrics.getAscent()) / 2);
        for (int c = 0; c < columns.size(); c++) {
          int left = labelWidth + GAP + c * (cellWidth + GAP);
          ReportTrial trial = cells.get(rows.get(r) + "\n" + columns.get(c));
          BufferedImage preview = trial == null ? null : previews.get(trial.id());
          if (preview != null) {
            g.drawImage(preview, left, top, (int) Math.round(preview.getWidth() * scale),
                (int) Math.round(preview.getHeight() * scale), null);
          } else {
            g.setColor(new Color(0xE0E0E0));
            g.fillRect(left, top, cellWidth, cellHeight);
            g.setColor(Color.DARK_GRAY);
            String note = trial == null ? "no trial" : trial.completed() ? "no preview" : trial.stateName();
            g.drawString(note, left + GAP, top + (cellHeight + metrics.getAscent()) / 2);
          }
        }
      }
    } finally {
      g.dispose();
    }
    return Optional.of(new SweepPlots.Figure(FILE, "Samples" + (finalColumnAxis == null ? ""
        : " (rows: " + (rowAxes.isEmpty() ? "all" : String.join(", ", rowAxes)) + "; columns: " + finalColumnAxis + ")"),
        png(grid)));
  }

  private static String rowLabel(ReportTrial trial, List<String> rowAxes) {
    return rowAxes.isEmpty() ? "all" : rowAxes.stream()
        .map(axis -> rowAxes.size() == 1 && axis.equals(SweepPlots.SAMPLER) ? trial.axisText(axis)
            : axis + "=" + trial.axisText(axis))
        .reduce((a, b) -> a + ", " + b).orElseThrow();
  }

  /** A preview picture, or empty where it is missing or damaged (the report still renders). */
  private static Optional<BufferedImage> read(Path file) {
    if (file == null || !Files.isRegularFile(file)) {
      return Optional.empty();
    }
    try {
      return Optional.ofNullable(ImageIO.read(file.toFile()));
    } catch (IOException | RuntimeException unreadable) {
      return Optional.empty();
    }
  }

  private static byte[] png(BufferedImage image) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      ImageIO.write(image, "png", out);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot encode " + FILE, e);
    }
    return out.toByteArray();
  }
}
