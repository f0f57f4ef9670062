package io.latentlab.shell;

import io.latentlab.lab.EvaluateTask;
import io.latentlab.lab.SamplingOptions;

/**
 * Settings of an evaluation, from {@code lab.evaluate(run)}: each setter changes one (the same
 * as {@code ./latentlab evaluate}'s option of that name), {@link #run()} does it. Unset sampling
 * settings are the run's own; 1000 samples, seed 0.
 *
 * <pre>{@code
 * lab.evaluate(run).sampler("heun").steps(10).samples(500).run()
 * }</pre>
 */
public final class EvaluateBuilder {
  private final Lab lab;
  private final Run run;
  private int samples = EvaluateTask.DEFAULT_SAMPLES;
  private String sampler;
  private Integer steps;
  private Double eta;
  private Long seed;
  private Double guidance;
  private String spacing;

  EvaluateBuilder(Lab lab, Run run) {
    this.lab = lab;
    this.run = run;
  }

  /** Samples to score, at most data.holdout ({@code --samples}). */
  public EvaluateBuilder samples(int n) {
    samples = n;
    return this;
  }

  /** The sampler ({@code --sampler}). */
  public EvaluateBuilder sampler(String name) {
    sampler = name;
    return this;
  }

  /** Sampler steps ({@code --steps}). */
  public EvaluateBuilder steps(int n) {
    steps = n;
    return this;
  }

  /** η of stochastic samplers, in [0, 1] ({@code --eta}). */
  public EvaluateBuilder eta(double value) {
    eta = value;
    return this;
  }

  /** The sampling seed ({@code --seed}). */
  public EvaluateBuilder seed(long value) {
    seed = value;
    return this;
  }

  /** The guidance scale, in [0, 100] ({@code --guidance}). */
  public EvaluateBuilder guidance(double scale) {
    guidance = scale;
    return this;
  }

  /** The σ spacing ({@code --spacing}). */
  public EvaluateBuilder spacing(String name) {
    spacing = name;
    return this;
  }

  /**
   * Samples and scores, prints the scores and returns the evaluation (its own file; earlier
   * evaluations are kept).
   *
   * @throws LabException in one line for a bad setting (nothing is written) or a failure
   */
  public ModelResult run() {
    return lab.guard(() -> {
      EvaluateTask.Request defaults = EvaluateTask.Request.defaults(run.directory());
      EvaluateTask.Request request = new EvaluateTask.Request(run.directory(),
          new SamplingOptions(sampler, steps, eta, seed, guidance, spacing), samples, false, defaults.nfes(),
          defaults.tableSamples(), null);
      EvaluateTask.Result evaluation = lab.runTask(EvaluateTask.KIND,
          bars -> new EvaluateTask(lab.home()).run(request, bars));
      System.out.print(EvaluateTask.text(evaluation));
      System.out.flush();
      return ModelResult.of(lab, evaluation.result());
    });
  }

  @Override
  public String toString() {
    return "evaluation of " + run.trialId() + ": " + samples + " samples; call run()";
  }
}
