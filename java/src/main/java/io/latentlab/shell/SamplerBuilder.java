package io.latentlab.shell;

import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.config.SampleConfig;
import io.latentlab.run.RunDirectory;
import io.latentlab.run.SamplerOptions;
import io.latentlab.run.SamplingRule;
import io.latentlab.tensor.TensorScope;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Settings of a stepwise sampler on a completed run, from {@code lab.sampler(run)}. It starts
 * from the run's own sampling (its config's sampler, steps, guidance, spacing, ρ and seed, and
 * the labels it drew), so {@code open().finish()} reproduces the run's samples; each setter
 * changes one setting. {@link #open()} starts the session.
 *
 * <pre>{@code
 * var s = lab.sampler(run).sampler("dpmpp_2m").steps(20).guidance(3).labels(0, 1, 2).open();
 * }</pre>
 *
 * Python checks the sampler and spacing names when the session opens.
 */
public final class SamplerBuilder {
  private final Lab lab;
  private final Run run;
  private String sampler;
  private int steps;
  private double guidance;
  private long seed;
  private List<Integer> labels;
  private SampleConfig recorded;
  private double eta;
  private boolean etaChosen;
  private String spacing;
  private double rho;
  private TensorScope scope;

  private SamplerBuilder(Lab lab, Run run) {
    this.lab = lab;
    this.run = run;
  }

  /**
   * The run's own sampling settings.
   *
   * @throws IllegalArgumentException if the run did not complete (it has no checkpoint)
   */
  static SamplerBuilder of(Lab lab, Run run) {
    if (!RunDirectory.isCompleted(run.directory())) {
      throw new IllegalArgumentException("run " + run.trialId() + " is " + run.status()
          + ", not completed; a sampler needs its trained checkpoint");
    }
    ExperimentConfig config = new ConfigLoader().load(run.directory().resolve(RunDirectory.CONFIG));
    SampleConfig sample = config.sample();
    SamplerBuilder builder = new SamplerBuilder(lab, run);
    builder.sampler = sample.sampler();
    builder.steps = sample.steps();
    builder.guidance = sample.guidanceScale();
    builder.seed = config.seed();
    builder.labels = run.sampleLabels().isEmpty() ? List.of(0) : run.sampleLabels();
    builder.recorded = sample;
    builder.spacing = sample.spacing();
    builder.rho = sample.rho();
    return builder;
  }

  /** The sampler, by name as configs spell it ({@code ddim}, {@code euler}, {@code dpmpp_2m}, ...). */
  public SamplerBuilder sampler(String name) {
    this.sampler = lab.guard(() -> Objects.requireNonNull(name, "sampler: give a name, e.g. dpmpp_2m"));
    return this;
  }

  /** Denoising steps, at least 1. */
  public SamplerBuilder steps(int count) {
    this.steps = count;
    return this;
  }

  /** Classifier-free guidance w (1 = conditional only, 0 = unconditional). */
  public SamplerBuilder guidance(double scale) {
    this.guidance = scale;
    return this;
  }

  /** The seed of the initial noise and of stochastic samplers. */
  public SamplerBuilder seed(long value) {
    this.seed = value;
    return this;
  }

  /** One class label per sample; their count is the batch size. */
  public SamplerBuilder labels(int... values) {
    List<Integer> list = new ArrayList<>();
    for (int value : lab.guard(() -> Objects.requireNonNull(values, "labels: give at least one"))) {
      list.add(value);
    }
    this.labels = List.copyOf(list);
    return this;
  }

  /** The noise of stochastic samplers, in [0, 1]. */
  public SamplerBuilder eta(double value) {
    this.eta = value;
    this.etaChosen = true;
    return this;
  }

  /** The σ grid: {@code karras}, {@code exponential}, {@code trailing}, ... */
  public SamplerBuilder spacing(String name) {
    this.spacing = lab.guard(() -> Objects.requireNonNull(name, "spacing: give a name, e.g. karras"));
    return this;
  }

  /** ρ of the karras and polyexponential grids. */
  public SamplerBuilder rho(double value) {
    this.rho = value;
    return this;
  }

  /** The scope that owns the session and its tensors (default: a new child of the lab's). */
  public SamplerBuilder scope(TensorScope owner) {
    this.scope = lab.guard(() -> Objects.requireNonNull(owner, "scope: give lab.scope()"));
    return this;
  }

  /**
   * The options as {@code SamplerSession} takes them. Without {@link #eta(double)}, η is what
   * Python's rule gives ({@link SamplingRule}: the run's own for the run's sampler, another
   * sampler's own where it has one), as {@code latentlab evaluate --sampler} and sampling sweeps
   * do.
   */
  SamplerOptions options() {
    Double chosen = etaChosen ? eta : Double.valueOf(SamplingRule.resolve(lab.bridge(), recorded,
        sampler, null, null, null, null).eta());
    return new SamplerOptions(sampler, steps, seed, labels, guidance, chosen, spacing, rho);
  }

  /**
   * Opens the session (Python loads the checkpoint, once per JVM, and checks the settings).
   *
   * @throws LabException in one line for a bad setting (Python names it)
   */
  public Sampling open() {
    return lab.guard(() -> Sampling.open(lab, run, options(),
        scope != null ? scope.child() : lab.ownScope().child()));
  }

  /** E.g. {@code Sampler on run f11618248513: dpmpp_2m, 20 steps, guidance 3.0, seed 0, 8 labels}. */
  @Override
  public String toString() {
    return String.format(Locale.ROOT, "Sampler on run %s: %s, %d steps, guidance %s, seed %d, labels %s",
        run.trialId(), sampler, steps, guidance, seed, labels);
  }
}
