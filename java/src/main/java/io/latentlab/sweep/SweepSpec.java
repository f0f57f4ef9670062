package io.latentlab.sweep;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A sweep file, parsed and checked ({@link SweepLoader}); {@link SweepPlanner} expands it into
 * trials.
 *
 * @param file the sweep file (named in error messages; {@code base:} resolves beside it)
 * @param name the sweep's name (lower-case letters, digits, '-', '_')
 * @param run for a sampling sweep: the completed run it samples (trial-id prefix or path)
 * @param base for a training sweep: the experiment config it varies
 * @param grid axes whose values are crossed (key path → values), in file order
 * @param zip axes advanced together (key path → values, all of one length)
 * @param random {@code n} draws from a space of distributions, or null
 * @param replicates runs of each training trial with other randomness (1: the config's own)
 * @param evaluate how trials are scored: every sampling trial; for a training sweep null
 *     unless the file has an {@code evaluate:} section, and then each trained trial is scored
 *     by sampling it with its own {@code sample.*} settings
 * @param maxTrials the plan is refused if it has more trials
 * @param slurm how a Slurm executor submits the trials
 * @param model for a prompt sweep: the imported text-to-image model it samples (a name under
 *     {@code models/} or its folder in the project); its axes are {@link PromptTrials#AXES}
 */
public record SweepSpec(Path file, String name, String run, Path base,
    Map<String, List<Object>> grid, Map<String, List<Object>> zip, RandomSpace random,
    int replicates, Evaluate evaluate, int maxTrials, Slurm slurm, String model) {

  /** A sampling or training sweep (no model). */
  public SweepSpec(Path file, String name, String run, Path base,
      Map<String, List<Object>> grid, Map<String, List<Object>> zip, RandomSpace random,
      int replicates, Evaluate evaluate, int maxTrials, Slurm slurm) {
    this(file, name, run, base, grid, zip, random, replicates, evaluate, maxTrials, slurm, null);
  }

  /** True for a sampling sweep over a completed run, false for a training or prompt sweep. */
  public boolean sampling() {
    return run != null;
  }

  /** True for a prompt sweep over an imported text-to-image model. */
  public boolean prompts() {
    return model != null;
  }

  /**
   * Random draws.
   *
   * @param n how many draws
   * @param seed seeds the draws (own seed: the trials' configs keep theirs)
   * @param space key path → distribution: {@code uniform(a, b)}, {@code loguniform(a, b)},
   *     {@code int(a, b)} (inclusive), {@code choice(x, y, ...)}
   */
  public record RandomSpace(int n, long seed, Map<String, String> space) {}

  /**
   * How trials are scored (FID beside its floor, conditional accuracy, seconds, NFE).
   *
   * @param samples samples per trial, at most the run's {@code data.holdout}
   * @param preview samples kept as the trial's preview picture (labels 0, 1, 2, ..., the same
   *     seed across the sweep)
   */
  public record Evaluate(int samples, int preview) {}

  /**
   * A Slurm job array's settings; null fields are left to the cluster's defaults.
   *
   * @param partition {@code --partition}
   * @param time {@code --time}, e.g. {@code 01:00:00}
   * @param memory {@code --mem}, e.g. {@code 8G}
   * @param cpus {@code --cpus-per-task}
   * @param gpus {@code --gpus-per-task}
   * @param maxParallel the array's {@code %N} throttle
   * @param retries how many times a failed or preempted task is submitted again
   * @param nodes {@code --nodes} of each array task (default 1)
   * @param tasksPerNode {@code --ntasks-per-node} of each array task: a training trial runs
   *     over {@code nodes × tasksPerNode} JAX processes (not part of its trial id)
   */
  public record Slurm(String partition, String time, String memory, Integer cpus, Integer gpus,
      Integer maxParallel, Integer retries, Integer nodes, Integer tasksPerNode) {}
}
