package io.latentlab.config;

import static io.latentlab.config.Checks.orDefault;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;


/**
 * How samples are drawn at the end of a run. Python checks the sampler and spacing names and
 * fills {@code eta} with the sampler's own default where the config leaves it out.
 *
 * @param sampler the sampler's name as {@code latentlab.diffusion.samplers} registers it
 * @param steps denoising steps
 * @param eta noise of the stochastic samplers in [0, 1] (DDIM's η; 1 is the full SDE)
 * @param numSamples how many samples; 64 fill the 8×8 grid of samples.png
 * @param guidanceScale classifier-free guidance w (1 = conditional only, 0 = unconditional)
 * @param spacing the σ grid: {@code karras}, {@code exponential}, {@code polyexponential}, or
 *     the training timesteps by {@code trailing}, {@code leading} or {@code linspace}; runs
 *     recorded before it had this name wrote {@code timestep_spacing}, which
 *     {@link ConfigFormat} migrates
 * @param rho ρ of the {@code karras} and {@code polyexponential} spacings
 * @param prompts what a text model (one with a {@code model.text_encoder} section) samples,
 *     {@code num_samples} split evenly over them; Python checks them against the model. Left
 *     out of the config's JSON when absent, so the trial ids of other configs stay as they were
 */
public record SampleConfig(
    String sampler,
    Integer steps,
    Double eta,
    Integer numSamples,
    Double guidanceScale,
    String spacing,
    Double rho,
    @JsonInclude(JsonInclude.Include.NON_NULL) List<String> prompts) {
  /** The sampler a config gets when it names none. */
  public static final String DEFAULT_SAMPLER = "dpmpp_2m";
  /**
   * The σ grid a config gets when it names none; Python's {@code schedules} owns it and a test
   * checks that the two agree.
   */
  public static final String DEFAULT_SPACING = "karras";
  /** ρ of the Karras and polyexponential grids by default (Python's, checked by a test). */
  public static final double DEFAULT_RHO = 7.0;
  /** The largest η (1: the full SDE); the smallest is 0. Python's, checked by a test. */
  public static final double MAX_ETA = 1.0;
  /** The largest guidance scale; the smallest is 0. Python's, checked by a test. */
  public static final double MAX_GUIDANCE = 100.0;

  /** Fills defaults (dpmpp_2m, 20 steps, 64 samples, w 3, karras, ρ 7) and checks ranges. */
  public SampleConfig {
    sampler = orDefault(sampler, DEFAULT_SAMPLER);
    steps = Checks.atLeast("sample.steps", orDefault(steps, 20), 1, 100_000);
    if (eta != null) {
      eta = Checks.inRange("sample.eta", eta, 0.0, MAX_ETA);
    }
    numSamples = Checks.atLeast("sample.num_samples", orDefault(numSamples, 64), 1, 100_000);
    guidanceScale = Checks.inRange("sample.guidance_scale", orDefault(guidanceScale, 3.0), 0.0, MAX_GUIDANCE);
    spacing = orDefault(spacing, DEFAULT_SPACING);
    rho = Checks.inRange("sample.rho", orDefault(rho, DEFAULT_RHO), 0.01, 100.0);
    if (prompts != null) {
      for (int i = 0; i < prompts.size(); i++) {
        if (prompts.get(i) == null) {
          throw new IllegalArgumentException("sample.prompts[" + i + "]: empty entry; write \"\" for "
              + "the unconditional prompt");
        }
      }
      prompts = List.copyOf(prompts);
    }
  }

  static SampleConfig defaults() {
    return new SampleConfig(null, null, null, null, null, null, null, null);
  }
}
