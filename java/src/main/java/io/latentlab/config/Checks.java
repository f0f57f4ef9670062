package io.latentlab.config;

import java.util.List;

/** Range checks for config values; each message names the key and what is allowed. */
final class Checks {
  private Checks() {}

  static <T> T orDefault(T value, T fallback) {
    return value == null ? fallback : value;
  }

  static int atLeast(String key, int value, int min, int max) {
    if (value < min || value > max) {
      throw new IllegalArgumentException(
          String.format("%s: must be in [%d, %d], got %d", key, min, max, value));
    }
    return value;
  }

  static double inRange(String key, double value, double min, double max) {
    if (!(value >= min && value <= max)) { // also refuses NaN
      throw new IllegalArgumentException(
          String.format("%s: must be in [%s, %s], got %s", key, min, max, value));
    }
    return value;
  }

  static String oneOf(String key, String value, List<String> allowed) {
    if (!allowed.contains(value)) {
      throw new IllegalArgumentException(
          String.format("%s: must be one of %s, got '%s'", key, String.join(", ", allowed), value));
    }
    return value;
  }
}
