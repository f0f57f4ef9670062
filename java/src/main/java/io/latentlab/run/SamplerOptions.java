package io.latentlab.run;

import java.util.List;

/**
 * How a {@link SamplerSession} samples. Python checks the sampler's name.
 *
 * @param sampler a sampler name, as configs spell it (e.g. {@code ddim})
 * @param steps denoising steps, at least 1
 * @param seed seeds the initial noise and the sampler's noise, as a run's own sampling does
 * @param labels one class label per sample (the batch size is their count)
 * @param guidanceScale classifier-free guidance w
 * @param eta DDIM's η in [0, 1]
 */
public record SamplerOptions(
    String sampler, int steps, long seed, List<Integer> labels, double guidanceScale, double eta) {

  /** Checks the ranges. */
  public SamplerOptions {
    if (steps < 1) {
      throw new IllegalArgumentException("steps must be >= 1, got " + steps);
    }
    if (labels == null || labels.isEmpty()) {
      throw new IllegalArgumentException("labels: give one label per sample");
    }
    if (!(eta >= 0 && eta <= 1)) {
      throw new IllegalArgumentException("eta must be in [0, 1], got " + eta);
    }
    labels = List.copyOf(labels);
  }
}
