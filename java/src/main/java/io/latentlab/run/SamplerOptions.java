package io.latentlab.run;

import io.latentlab.config.SampleConfig;
import java.util.List;

/**
 * How a {@link SamplerSession} samples. Python checks the sampler's and the spacing's names.
 *
 * @param sampler a sampler name, as configs spell it (e.g. {@code dpmpp_2m})
 * @param steps denoising steps, at least 1
 * @param seed seeds the initial noise and the sampler's noise, as a run's own sampling does
 * @param labels one class label per sample (the batch size is their count)
 * @param guidanceScale classifier-free guidance w
 * @param eta the noise of stochastic samplers in [0, 1]; null for the sampler's own default
 * @param spacing the σ grid: {@code karras}, {@code exponential}, {@code polyexponential},
 *     {@code trailing}, {@code leading} or {@code linspace}
 * @param rho ρ of the {@code karras} and {@code polyexponential} spacings
 */
public record SamplerOptions(
    String sampler,
    int steps,
    long seed,
    List<Integer> labels,
    double guidanceScale,
    Double eta,
    String spacing,
    double rho) {

  /** Checks the ranges. */
  public SamplerOptions {
    if (steps < 1) {
      throw new IllegalArgumentException("steps must be >= 1, got " + steps);
    }
    if (labels == null || labels.isEmpty()) {
      throw new IllegalArgumentException("labels: give one label per sample");
    }
    if (eta != null && !(eta >= 0 && eta <= SampleConfig.MAX_ETA)) {
      throw new IllegalArgumentException("eta must be in [0, " + SampleConfig.MAX_ETA + "], got " + eta);
    }
    if (spacing == null || spacing.isBlank()) {
      throw new IllegalArgumentException("spacing: give a spacing name, e.g. karras");
    }
    if (!(rho > 0)) {
      throw new IllegalArgumentException("rho must be > 0, got " + rho);
    }
    labels = List.copyOf(labels);
  }

  /** The sampler's own η, the {@code karras} spacing with ρ = 7 (the config defaults). */
  public SamplerOptions(String sampler, int steps, long seed, List<Integer> labels, double guidanceScale) {
    this(sampler, steps, seed, labels, guidanceScale, null, SampleConfig.DEFAULT_SPACING,
        SampleConfig.DEFAULT_RHO);
  }

  /** The same options with another η. */
  public SamplerOptions withEta(double value) {
    return new SamplerOptions(sampler, steps, seed, labels, guidanceScale, value, spacing, rho);
  }

  /** The same options with another σ spacing. */
  public SamplerOptions withSpacing(String name) {
    return new SamplerOptions(sampler, steps, seed, labels, guidanceScale, eta, name, rho);
  }
}
