package io.latentlab.shell;

import io.latentlab.lab.DataTask;
import io.latentlab.run.DataSource;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A config's data as {@code lab.data(config)} shows it: the facts {@code ./latentlab data}
 * prints ({@link #toString}) and the grid of preprocessed training images per class
 * ({@link #picture}, which a notebook shows inline).
 */
public final class DataView {
  private final DataTask.Result result;

  DataView(DataTask.Result result) {
    this.result = result;
  }

  /** The data as Python opened it: location, examples, fingerprint, classes, counts, shape. */
  public DataSource source() {
    return result.source();
  }

  /** How many examples the data set holds (after skipping bad files). */
  public long examples() {
    return result.source().examples();
  }

  /** The class names, label i being the i-th; empty for unlabelled data. */
  public List<String> classes() {
    return result.source().classes();
  }

  /** Examples per class name, in class order. */
  public Map<String, Long> counts() {
    return result.source().countsByClass();
  }

  /** The data's fingerprint, as a run's provenance records it. */
  public String fingerprint() {
    return result.source().fingerprint();
  }

  /** {@code [H, W, C]} of every preprocessed image. */
  public List<Integer> shape() {
    return result.source().shape();
  }

  /** The PNG grids written, one per class. */
  public List<Path> grids() {
    return result.grids();
  }

  /** Every class's grid, one above the other (a notebook shows it inline). */
  public BufferedImage picture() {
    if (result.grids().isEmpty()) {
      throw new IllegalArgumentException("no grids: the data has no training images");
    }
    return Display.stack(result.grids().stream().map(Display::png).toList());
  }

  /** One class's grid, by its name as {@link #classes} spells it. */
  public BufferedImage grid(String className) {
    String suffix = "-" + className.replaceAll("[^A-Za-z0-9_.-]+", "-").replaceAll("^-+|-+$", "") + ".png";
    int index = classes().indexOf(className);
    String prefix = String.format("grid-%03d", index);
    return result.grids().stream()
        .filter(grid -> grid.getFileName().toString().startsWith(prefix) || grid.getFileName().toString().endsWith(suffix))
        .findFirst().map(Display::png)
        .orElseThrow(() -> new IllegalArgumentException("no grid for class '" + className + "'; the classes: " + classes()));
  }

  /** The facts, one per line, as {@code ./latentlab data} prints them. */
  @Override
  public String toString() {
    return result.text();
  }
}
