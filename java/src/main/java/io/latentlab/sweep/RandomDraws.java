package io.latentlab.sweep;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Matcher;

/**
 * Draws of a sweep's random space, replayable from its seed: draw {@code i} of key {@code k}
 * comes from its own {@code SplittableRandom}, so adding a key or a draw leaves the others as
 * they were.
 */
final class RandomDraws {
  private RandomDraws() {}

  /** A parsed distribution. */
  interface Distribution {
    Object draw(SplittableRandom random);
  }

  /**
   * Parses {@code uniform(a, b)}, {@code loguniform(a, b)} (a, b > 0), {@code int(a, b)}
   * (inclusive) or {@code choice(x, y, ...)} (numbers or names).
   *
   * @throws IllegalArgumentException naming what is wrong
   */
  static Distribution parse(String text) {
    Matcher m = SweepLoader.DISTRIBUTION.matcher(text.strip());
    if (!m.matches()) {
      throw new IllegalArgumentException("expected uniform(a, b), loguniform(a, b), int(a, b) or choice(x, y, ...)");
    }
    String[] args = m.group(2).isEmpty() ? new String[0] : m.group(2).split("\\s*,\\s*");
    switch (m.group(1)) {
      case "choice" -> {
        if (args.length < 1) {
          throw new IllegalArgumentException("choice needs at least one value");
        }
        List<Object> values = new ArrayList<>();
        for (String arg : args) {
          values.add(scalar(arg));
        }
        return random -> values.get(random.nextInt(values.size()));
      }
      case "int" -> {
        long[] bounds = bounds(args);
        return random -> random.nextLong(bounds[0], bounds[1] + 1);
      }
      default -> {
        double low = number(args, 0);
        double high = number(args, 1);
        if (args.length != 2 || !(low < high)) {
          throw new IllegalArgumentException(m.group(1) + " needs two numbers a < b, got " + text.strip());
        }
        if (m.group(1).equals("loguniform")) {
          if (!(low > 0)) {
            throw new IllegalArgumentException("loguniform needs 0 < a < b, got " + text.strip());
          }
          double logLow = Math.log(low);
          double logHigh = Math.log(high);
          return random -> Math.exp(random.nextDouble(logLow, logHigh));
        }
        return random -> random.nextDouble(low, high);
      }
    }
  }

  private static long[] bounds(String[] args) {
    if (args.length != 2) {
      throw new IllegalArgumentException("int needs two integers a <= b");
    }
    try {
      long low = Long.parseLong(args[0]);
      long high = Long.parseLong(args[1]);
      if (low > high) {
        throw new IllegalArgumentException("int needs a <= b, got " + low + ", " + high);
      }
      return new long[] {low, high};
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("int needs two integers, got " + String.join(", ", args));
    }
  }

  private static double number(String[] args, int i) {
    if (i >= args.length) {
      return Double.NaN;
    }
    try {
      return Double.parseDouble(args[i]);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a number: " + args[i]);
    }
  }

  private static Object scalar(String text) {
    try {
      return Long.parseLong(text);
    } catch (NumberFormatException notLong) {
      try {
        return Double.parseDouble(text);
      } catch (NumberFormatException notDouble) {
        if (text.equals("true") || text.equals("false")) {
          return Boolean.parseBoolean(text);
        }
        return text;
      }
    }
  }

  /**
   * The draws of a random space: {@code n} maps of key path → value.
   */
  static List<Map<String, Object>> draw(SweepSpec.RandomSpace space) {
    Map<String, Distribution> distributions = new LinkedHashMap<>();
    space.space().forEach((key, text) -> distributions.put(key, parse(text)));
    List<Map<String, Object>> draws = new ArrayList<>();
    for (int i = 0; i < space.n(); i++) {
      Map<String, Object> draw = new LinkedHashMap<>();
      int k = 0;
      for (Map.Entry<String, Distribution> entry : distributions.entrySet()) {
        // One generator per (draw, key), derived from the seed: replayable and independent.
        SplittableRandom random = new SplittableRandom(space.seed() * 1_000_003L + i * 7919L + k++);
        draw.put(entry.getKey(), entry.getValue().draw(random));
      }
      draws.add(draw);
    }
    return draws;
  }
}
