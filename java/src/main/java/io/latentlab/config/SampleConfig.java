package io.latentlab.config;

import static io.latentlab.config.Checks.orDefault;

/**
 * How samples are drawn at the end of a run. Python checks the sampler and spacing names.
 *
 * @param sampler the sampler's name as {@code latentlab.diffusion.samplers} registers it
 * @param steps denoising steps
 * @param eta DDIM's η: 0 deterministic, 1 as DDPM
 * @param numSamples how many samples; 64 fill the 8×8 grid of samples.png
 * @param guidanceScale classifier-free guidance w (1 = conditional only, 0 = unconditional)
 * @param timestepSpacing {@code trailing}, {@code leading} or {@code linspace}
 */
public record SampleConfig(
    String sampler,
    Integer steps,
    Double eta,
    Integer numSamples,
    Double guidanceScale,
    String timestepSpacing) {

  /** Fills defaults (ddim, 50 steps, η 0, 64 samples, w 3, trailing) and checks ranges. */
  public SampleConfig {
    sampler = orDefault(sampler, "ddim");
    steps = Checks.atLeast("sample.steps", orDefault(steps, 50), 1, 100_000);
    eta = Checks.inRange("sample.eta", orDefault(eta, 0.0), 0.0, 1.0);
    numSamples = Checks.atLeast("sample.num_samples", orDefault(numSamples, 64), 1, 100_000);
    guidanceScale = Checks.inRange("sample.guidance_scale", orDefault(guidanceScale, 3.0), 0.0, 100.0);
    timestepSpacing = orDefault(timestepSpacing, "trailing");
  }

  static SampleConfig defaults() {
    return new SampleConfig(null, null, null, null, null, null);
  }
}
