package io.latentlab.sweep.report;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/** Whether a lower or a higher value of a metric is better, judged from its name. */
enum MetricDirection {
  LOWER("lowest"), HIGHER("highest");

  private static final Set<String> LOWER_WORDS = Set.of(
      "fid", "kid", "loss", "error", "nll", "bpd", "mse", "mae", "lpips", "seconds", "time");
  private static final Set<String> HIGHER_WORDS = Set.of(
      "accuracy", "psnr", "ssim", "precision", "recall", "auc", "f1");

  /** How the best value is described: lowest or highest. */
  final String best;

  MetricDirection(String best) {
    this.best = best;
  }

  /**
   * The direction of a metric from the words of its name ({@code fid_over_floor}: lower,
   * {@code conditional_accuracy}: higher), or empty where the name does not say or the value is
   * not a result to rank: {@code nfe} is the cost the sweep chose, and a floor such as
   * {@code fid_floor} is a property of the data (unlike {@code fid_over_floor}).
   */
  static Optional<MetricDirection> of(String metric) {
    String name = metric.toLowerCase(Locale.ROOT);
    if (name.equals("nfe") || name.endsWith("_floor") && !name.contains("_over_")) {
      return Optional.empty();
    }
    List<String> words = Arrays.asList(name.split("[^a-z0-9]+"));
    if (words.stream().anyMatch(LOWER_WORDS::contains)) {
      return Optional.of(LOWER);
    }
    if (words.stream().anyMatch(HIGHER_WORDS::contains)) {
      return Optional.of(HIGHER);
    }
    return Optional.empty();
  }

  /** True if {@code candidate} is better than {@code best}. */
  boolean better(double candidate, double best) {
    return this == LOWER ? candidate < best : candidate > best;
  }
}
