package io.latentlab.config;

import static io.latentlab.config.Checks.orDefault;

/**
 * The forward noising process. Python checks that the schedule name exists.
 *
 * @param betaSchedule {@code linear}, {@code scaled_linear} or {@code cosine}
 * @param numTimesteps the number of training timesteps T
 * @param betaStart β at t = 0 (linear schedules)
 * @param betaEnd β at t = T-1 (linear schedules)
 */
public record DiffusionConfig(
    String betaSchedule, Integer numTimesteps, Double betaStart, Double betaEnd) {

  /** Fills defaults (linear, 1000, 1e-4, 0.02) and checks ranges. */
  public DiffusionConfig {
    betaSchedule = orDefault(betaSchedule, "linear");
    numTimesteps = Checks.atLeast("diffusion.num_timesteps", orDefault(numTimesteps, 1000), 2, 100_000);
    betaStart = Checks.inRange("diffusion.beta_start", orDefault(betaStart, 1e-4), 1e-8, 0.5);
    betaEnd = Checks.inRange("diffusion.beta_end", orDefault(betaEnd, 0.02), betaStart, 0.999);
  }

  static DiffusionConfig defaults() {
    return new DiffusionConfig(null, null, null, null);
  }
}
