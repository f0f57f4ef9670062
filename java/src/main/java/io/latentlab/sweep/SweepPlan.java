package io.latentlab.sweep;

import io.latentlab.config.ReadOnlyJson;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A sweep expanded into its trials, in a fixed order; planning writes nothing.
 *
 * @param spec the sweep file it came from
 * @param runDirectory for a sampling sweep: the completed run sampled; null otherwise
 * @param trials the trials, each with its id and axis values
 */
public record SweepPlan(SweepSpec spec, Path runDirectory, List<PlannedTrial> trials) {
  /** Copies the trials. */
  public SweepPlan {
    trials = List.copyOf(trials);
  }

  /** The sweep's name. */
  public String name() {
    return spec.name();
  }

  /** {@code sampling}, {@code prompts} or {@code training}. */
  public String kind() {
    return spec.sampling() ? "sampling" : spec.prompts() ? "prompts" : "training";
  }

  /** The axes' key paths, grid first, then zip, then random, in file order. */
  public List<String> axes() {
    List<String> axes = new java.util.ArrayList<>(spec.grid().keySet());
    axes.addAll(spec.zip().keySet());
    if (spec.random() != null) {
      axes.addAll(spec.random().space().keySet());
    }
    return axes;
  }

  /**
   * Column names of the axes (key path → column): the key path's last component, or the
   * whole path with '_' for '.' where two axes share a last component.
   */
  public Map<String, String> columns() {
    Map<String, Integer> lastCount = new HashMap<>();
    for (String axis : axes()) {
      lastCount.merge(last(axis), 1, Integer::sum);
    }
    Map<String, String> columns = new LinkedHashMap<>();
    for (String axis : axes()) {
      columns.put(axis, lastCount.get(last(axis)) > 1 ? axis.replace('.', '_') : last(axis));
    }
    return columns;
  }

  private static String last(String keyPath) {
    return keyPath.substring(keyPath.lastIndexOf('.') + 1);
  }

  /** The first 12 hex digits of the SHA-256 of the trial ids in order (and of a training
   * sweep's scoring): names the directory. */
  public String hash() {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(kind().getBytes(StandardCharsets.UTF_8));
      for (PlannedTrial trial : trials) {
        sha.update((trial.trial() + "\n").getBytes(StandardCharsets.UTF_8));
      }
      if (!spec.sampling() && spec.evaluate() != null) { // scored training trials differ
        sha.update(("evaluate " + spec.evaluate().samples() + " " + spec.evaluate().preview())
            .getBytes(StandardCharsets.UTF_8));
      }
      return HexFormat.of().formatHex(sha.digest()).substring(0, 12);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The trial with this id, or null. */
  public PlannedTrial trial(String id) {
    return trials.stream().filter(t -> t.trial().equals(id)).findFirst().orElse(null);
  }

  /**
   * One trial of the plan.
   *
   * @param index its place in the plan (0-based; a Slurm array task's index maps to it)
   * @param trial its id: the run's trial id (training), the sampling trial id or the sample
 *     request's id (prompts), 12 hex digits
   * @param axes its axis values, key path → value
   * @param overrides the same as {@code key.path=value} overrides (YAML flow values)
   * @param replicate the replicate index (training trials)
   * @param directory the run directory it trains (training) or samples (sampling), or the
 *     folder its pictures go to (prompts: {@code <runs>/samples/<model>/<id>})
   */
  public record PlannedTrial(int index, String trial, Map<String, Object> axes,
      List<String> overrides, int replicate, Path directory) {
    /** Copies read-only. */
    public PlannedTrial {
      axes = ReadOnlyJson.map(axes);
      overrides = List.copyOf(overrides);
    }
  }
}
