package io.latentlab.lab;

import io.latentlab.config.SampleConfig;
import java.util.Locale;
import java.util.Set;

/**
 * The sampling options the model tasks share. A null component means "the task's default" (for
 * evaluate: the run's own {@code sample} section). The ranges are checked here, once, when the
 * record is made; names (sampler, spacing) are checked by Python's list when a task runs.
 *
 * @param sampler the sampler's name, e.g. {@code ddim}, {@code dpmpp_2m}
 * @param steps sampler steps, at least 1
 * @param eta η of the stochastic samplers, in [0, 1]
 * @param seed the seed of the task's randomness (sampling, added noise)
 * @param guidance the classifier-free guidance scale, in [0, 100]
 * @param spacing the σ spacing, e.g. {@code karras}
 */
public record SamplingOptions(String sampler, Integer steps, Double eta, Long seed, Double guidance, String spacing) {
  /** Every option left to the task's default. */
  public static final SamplingOptions DEFAULTS = new SamplingOptions(null, null, null, null, null, null);

  /** One of the shared options, with the name the command line gives it. */
  public enum Option {
    /** {@code --sampler}. */
    SAMPLER("--sampler", "sampler"),
    /** {@code --steps}. */
    STEPS("--steps", "sampler steps"),
    /** {@code --eta}. */
    ETA("--eta", "η of stochastic samplers, in [0, 1]"),
    /** {@code --seed}. */
    SEED("--seed", "seed"),
    /** {@code --guidance}. */
    GUIDANCE("--guidance", "guidance scale, in [0, 100]"),
    /** {@code --spacing}. */
    SPACING("--spacing", "σ spacing");

    private final String flag;
    private final String meaning;

    Option(String flag, String meaning) {
      this.flag = flag;
      this.meaning = meaning;
    }

    /** The command line's name, e.g. {@code --steps}; error messages name options by it. */
    public String flag() {
      return flag;
    }

    /** What it sets, in a few words, for help texts. */
    public String meaning() {
      return meaning;
    }
  }

  /**
   * @throws UsageException if a value is out of its range
   */
  public SamplingOptions {
    if (steps != null && steps < 1) {
      throw new UsageException("--steps: must be >= 1, got " + steps);
    }
    if (eta != null && !(eta >= 0 && eta <= SampleConfig.MAX_ETA)) {
      throw new UsageException("--eta: must be in [0, " + SampleConfig.MAX_ETA + "], got " + eta);
    }
    if (guidance != null && !(guidance >= 0 && guidance <= SampleConfig.MAX_GUIDANCE)) {
      throw new UsageException("--guidance: must be in [0, " + SampleConfig.MAX_GUIDANCE + "], got " + guidance);
    }
    if (sampler != null && sampler.isBlank()) {
      throw new UsageException("--sampler: give a sampler's name, e.g. ddim");
    }
    if (spacing != null && spacing.isBlank()) {
      throw new UsageException("--spacing: give a spacing's name, e.g. karras");
    }
  }

  /** A copy with this sampler. */
  public SamplingOptions withSampler(String value) {
    return new SamplingOptions(value, steps, eta, seed, guidance, spacing);
  }

  /** A copy with this many steps. */
  public SamplingOptions withSteps(Integer value) {
    return new SamplingOptions(sampler, value, eta, seed, guidance, spacing);
  }

  /** A copy with this η. */
  public SamplingOptions withEta(Double value) {
    return new SamplingOptions(sampler, steps, value, seed, guidance, spacing);
  }

  /** A copy with this seed. */
  public SamplingOptions withSeed(Long value) {
    return new SamplingOptions(sampler, steps, eta, value, guidance, spacing);
  }

  /** A copy with this guidance scale. */
  public SamplingOptions withGuidance(Double value) {
    return new SamplingOptions(sampler, steps, eta, seed, value, spacing);
  }

  /** A copy with this spacing. */
  public SamplingOptions withSpacing(String value) {
    return new SamplingOptions(sampler, steps, eta, seed, guidance, value);
  }

  /** This option's value, or null if it was left to the default. */
  public Object get(Option option) {
    return switch (option) {
      case SAMPLER -> sampler;
      case STEPS -> steps;
      case ETA -> eta;
      case SEED -> seed;
      case GUIDANCE -> guidance;
      case SPACING -> spacing;
    };
  }

  /** Each component that is null here taken from {@code defaults}. */
  public SamplingOptions orElse(SamplingOptions defaults) {
    return new SamplingOptions(sampler != null ? sampler : defaults.sampler,
        steps != null ? steps : defaults.steps, eta != null ? eta : defaults.eta,
        seed != null ? seed : defaults.seed, guidance != null ? guidance : defaults.guidance,
        spacing != null ? spacing : defaults.spacing);
  }

  /**
   * Refuses an option the task does not use (the command line does not offer it; a JShell
   * caller could still set it).
   *
   * @throws UsageException naming the option and the task
   */
  public void requireOnly(Set<Option> used, String task) {
    for (Option option : Option.values()) {
      if (!used.contains(option) && get(option) != null) {
        throw new UsageException(option.flag() + ": " + task + " does not use it; leave it out (it uses "
            + String.join(", ", used.stream().map(Option::flag).toList()) + ")");
      }
    }
  }

  /**
   * A help text's words for an option's default: {@code "default 20"}, or {@code whenNull} where
   * the task leaves it to something else (evaluate: the run's).
   */
  public String describeDefault(Option option, String whenNull) {
    Object value = get(option);
    return value == null ? whenNull : "default " + (value instanceof Double d
        ? String.format(Locale.ROOT, "%s", d) : value);
  }
}
