package io.latentlab.shell;

import io.latentlab.lab.DenoiseTask;
import io.latentlab.lab.SamplingOptions;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Settings of a denoising, from {@code lab.denoise(run)}: each setter changes one (the same as
 * {@code ./latentlab denoise}'s option of that name), {@link #run()} does it. Unset settings
 * take the task's defaults (ddim, 20 steps, seed 0, 200 held-out digits).
 *
 * <pre>{@code
 * lab.denoise(run).noiseSigmas(0.1, 0.3).heldout(50).run()
 * }</pre>
 */
public final class DenoiseBuilder {
  private final Lab lab;
  private final Run run;
  private double[] noiseSigmas = new double[0];
  private Integer heldout;
  private String images;
  private int average = DenoiseTask.DEFAULT_AVERAGE;
  private int calibration = DenoiseTask.DEFAULT_CALIBRATION;
  private String sampler;
  private Integer steps;
  private Long seed;

  DenoiseBuilder(Lab lab, Run run) {
    this.lab = lab;
    this.run = run;
  }

  /** Noise levels of the added pixel noise, each in [0, 1] ({@code --noise-sigma}; required). */
  public DenoiseBuilder noiseSigmas(double... values) {
    noiseSigmas = values.clone();
    return this;
  }

  /** Denoises the first N held-out digits ({@code --heldout}). */
  public DenoiseBuilder heldout(int n) {
    heldout = n;
    return this;
  }

  /** Denoises the digits of a .npy or grey .png file instead ({@code --images}). */
  public DenoiseBuilder images(String file) {
    images = file;
    return this;
  }

  /** K of "ours, mean of K" ({@code --average}). */
  public DenoiseBuilder average(int k) {
    average = k;
    return this;
  }

  /** Training digits that choose each method's parameter ({@code --calibration}). */
  public DenoiseBuilder calibration(int m) {
    calibration = m;
    return this;
  }

  /** The sampler ({@code --sampler}). */
  public DenoiseBuilder sampler(String name) {
    sampler = name;
    return this;
  }

  /** Sampler steps from the start σ ({@code --steps}). */
  public DenoiseBuilder steps(int n) {
    steps = n;
    return this;
  }

  /** The seed of the noise ({@code --seed}). */
  public DenoiseBuilder seed(long value) {
    seed = value;
    return this;
  }

  /**
   * Denoises (or reads the completed result of the same settings), prints the table and returns
   * the result.
   *
   * @throws LabException in one line for a bad setting (nothing is written) or a failure
   */
  public ModelResult run() {
    return lab.guard(() -> {
      DenoiseTask.Request request = DenoiseTask.Request.builder(run.directory())
          .noiseSigmas(Arrays.stream(noiseSigmas).boxed().toList()).heldout(heldout)
          .images(images == null ? null : lab.resolve(images)).average(average).calibration(calibration)
          .sampling(new SamplingOptions(sampler, steps, null, seed, null, null)).build();
      return lab.runTask(DenoiseTask.KIND, bars -> new DenoiseTask(lab.home()).run(request, bars),
          DenoiseTask::text);
    });
  }

  /** E.g. {@code denoise of Run tiny ...: noise σ [0.1, 0.3], call run()}. */
  @Override
  public String toString() {
    return "denoise of " + run.trialId() + ": noise σ " + Arrays.toString(noiseSigmas) + "; call run()";
  }
}
