package io.latentlab.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * The version of a config's layout ({@code format:}) and the steps that bring an older one up
 * to date. Every resolved {@code config.yaml} records {@code format: 2}; a config that names no
 * format is read as format 1 — a run directory written before formats existed, or a user's file
 * that never needed one — and migrated, so old run directories still open, show, reproduce and
 * query. The format describes the file, not the experiment: it never enters the trial id.
 *
 * <p>Format history:
 * <ul>
 *   <li>1 — no {@code format} key; the σ grid was recorded as {@code sample.timestep_spacing} by
 *       the earliest runs.</li>
 *   <li>2 — {@code format: 2}; the σ grid is {@code sample.spacing} only.</li>
 * </ul>
 */
public final class ConfigFormat {
  /** The format this LatentLab writes. */
  public static final int CURRENT = 2;
  /** The key that records it. */
  public static final String KEY = "format";

  /** Step {@code i} turns format {@code i + 1} into {@code i + 2}; {@code where} names the file. */
  private static final List<BiConsumer<ObjectNode, String>> STEPS = List.of(ConfigFormat::renameTimestepSpacing);

  private ConfigFormat() {}

  /**
   * Brings a config tree to the current format in place and records it there.
   *
   * @param tree the config's top-level mapping, after {@code extends} and overrides
   * @param where the file (or text) it came from, for messages
   * @throws ConfigException in one line if the format is not a known one
   */
  static void migrate(ObjectNode tree, String where) {
    int format = formatOf(tree, where);
    for (int step = format - 1; step < STEPS.size(); step++) {
      STEPS.get(step).accept(tree, where);
    }
    tree.set(KEY, IntNode.valueOf(CURRENT));
  }

  private static int formatOf(ObjectNode tree, String where) {
    JsonNode value = tree.get(KEY);
    if (value == null) {
      return 1;
    }
    if (!value.isInt() || value.asInt() < 1) {
      throw new ConfigException(where + ": format: expected a format number (1 to " + CURRENT
          + "), got " + value);
    }
    if (value.asInt() > CURRENT) {
      throw new ConfigException(where + ": format: " + value.asInt() + " was written by a newer "
          + "LatentLab; this one reads formats 1 to " + CURRENT + " (update LatentLab)");
    }
    return value.asInt();
  }

  /** 1 → 2: {@code sample.timestep_spacing} is {@code sample.spacing}. */
  private static void renameTimestepSpacing(ObjectNode tree, String where) {
    if (!(tree.get("sample") instanceof ObjectNode sample) || !sample.has("timestep_spacing")) {
      return;
    }
    if (sample.has("spacing")) {
      throw new ConfigException(where + ": sample: both spacing and its old name timestep_spacing "
          + "are set; keep spacing");
    }
    sample.set("spacing", sample.remove("timestep_spacing"));
  }
}
