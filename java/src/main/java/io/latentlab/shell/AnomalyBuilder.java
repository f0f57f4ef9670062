package io.latentlab.shell;

import io.latentlab.lab.AnomalyTask;
import io.latentlab.lab.SamplingOptions;
import java.util.Arrays;
import java.util.List;

/**
 * Settings of an anomaly scoring, from {@code lab.anomaly(run)}: each setter changes one (the
 * same as {@code ./latentlab anomaly}'s option of that name), {@link #run()} does it. Unset
 * settings take the task's defaults (timesteps 100, 250, 500; ddim, 20 steps, seed 0).
 *
 * <pre>{@code
 * lab.anomaly(run).timesteps(50, 200).perGroup(300).run()
 * }</pre>
 */
public final class AnomalyBuilder {
  private final Lab lab;
  private final Run run;
  private List<Integer> timesteps = AnomalyTask.DEFAULT_TIMESTEPS;
  private int lossTimesteps = AnomalyTask.DEFAULT_LOSS_TIMESTEPS;
  private int perGroup = AnomalyTask.DEFAULT_PER_GROUP;
  private String sampler;
  private Integer steps;
  private Long seed;

  AnomalyBuilder(Lab lab, Run run) {
    this.lab = lab;
    this.run = run;
  }

  /** Training timesteps of the reconstruction scores ({@code --timesteps}). */
  public AnomalyBuilder timesteps(int... values) {
    timesteps = Arrays.stream(values).boxed().toList();
    return this;
  }

  /** Evenly spaced timesteps the denoising loss averages ({@code --loss-timesteps}). */
  public AnomalyBuilder lossTimesteps(int n) {
    lossTimesteps = n;
    return this;
  }

  /** At most N normal and N anomalous held-out digits ({@code --per-group}). */
  public AnomalyBuilder perGroup(int n) {
    perGroup = n;
    return this;
  }

  /** The sampler ({@code --sampler}). */
  public AnomalyBuilder sampler(String name) {
    sampler = name;
    return this;
  }

  /** Sampler steps back from σ_T ({@code --steps}). */
  public AnomalyBuilder steps(int n) {
    steps = n;
    return this;
  }

  /** The seed of the noise ({@code --seed}). */
  public AnomalyBuilder seed(long value) {
    seed = value;
    return this;
  }

  /**
   * Scores (or reads the completed result of the same settings), prints the AUROC table and
   * returns the result.
   *
   * @throws LabException in one line for a bad setting (nothing is written) or a failure
   */
  public ModelResult run() {
    return lab.guard(() -> {
      AnomalyTask.Request request = new AnomalyTask.Request(run.directory(), timesteps, lossTimesteps, perGroup,
          new SamplingOptions(sampler, steps, null, seed, null, null));
      return lab.runTask(AnomalyTask.KIND, bars -> new AnomalyTask(lab.home()).run(request, bars),
          AnomalyTask::text);
    });
  }

  @Override
  public String toString() {
    return "anomaly scores of " + run.trialId() + ": timesteps " + timesteps + "; call run()";
  }
}
