package io.latentlab.shell;

import io.latentlab.lab.InpaintTask;
import io.latentlab.lab.SamplingOptions;

/**
 * Settings of an inpainting, from {@code lab.inpaint(run)}: each setter changes one (the same as
 * {@code ./latentlab inpaint}'s option of that name), {@link #run()} does it. Unset settings
 * take the task's defaults (ddim, 50 steps, seed 0, 200 held-out digits, no resampling).
 *
 * <pre>{@code
 * lab.inpaint(run).mask("center").resample(2).run()
 * }</pre>
 */
public final class InpaintBuilder {
  private final Lab lab;
  private final Run run;
  private String mask;
  private Integer heldout;
  private int resample;
  private String sampler;
  private Integer steps;
  private Long seed;

  InpaintBuilder(Lab lab, Run run) {
    this.lab = lab;
    this.run = run;
  }

  /** The missing region: {@code left-half}, {@code center}, or a .npy or grey .png file ({@code --mask}; required). */
  public InpaintBuilder mask(String region) {
    mask = region;
    return this;
  }

  /** Inpaints the first N held-out digits ({@code --heldout}). */
  public InpaintBuilder heldout(int n) {
    heldout = n;
    return this;
  }

  /** Retakes of each step after re-noising its result, RePaint's resampling ({@code --resample}). */
  public InpaintBuilder resample(int r) {
    resample = r;
    return this;
  }

  /** The sampler ({@code --sampler}). */
  public InpaintBuilder sampler(String name) {
    sampler = name;
    return this;
  }

  /** Sampler steps ({@code --steps}). */
  public InpaintBuilder steps(int n) {
    steps = n;
    return this;
  }

  /** The seed of the sampler and the re-noising ({@code --seed}). */
  public InpaintBuilder seed(long value) {
    seed = value;
    return this;
  }

  /**
   * Inpaints (or reads the completed result of the same settings), prints the accuracies and
   * returns the result.
   *
   * @throws LabException in one line for a bad setting (nothing is written) or a failure
   */
  public ModelResult run() {
    return lab.guard(() -> {
      String region = mask == null || InpaintTask.MASKS.contains(mask) ? mask : lab.resolve(mask).toString();
      InpaintTask.Request request = new InpaintTask.Request(run.directory(), region, heldout, resample,
          new SamplingOptions(sampler, steps, null, seed, null, null));
      return lab.runTask(InpaintTask.KIND, bars -> new InpaintTask(lab.home()).run(request, bars),
          InpaintTask::text);
    });
  }

  @Override
  public String toString() {
    return "inpaint of " + run.trialId() + ": mask " + mask + "; call run()";
  }
}
