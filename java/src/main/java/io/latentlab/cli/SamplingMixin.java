package io.latentlab.cli;

import io.latentlab.lab.SamplingOptions;
import io.latentlab.lab.SamplingOptions.Option;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The sampling options the model commands share ({@code --sampler --steps --eta --seed
 * --guidance --spacing}), declared once; {@link #options()} makes the lab's
 * {@link SamplingOptions} of them (unset: null, the task's default). Each command keeps only
 * the options its task uses, each described with that task's default ({@link #adapt}).
 */
final class SamplingMixin {
  @CommandLine.Option(names = "--sampler", description = "sampler")
  String sampler;

  @CommandLine.Option(names = "--steps", paramLabel = "N", description = "sampler steps")
  Integer steps;

  @CommandLine.Option(names = "--eta", paramLabel = "η", description = "η of stochastic samplers, in [0, 1]")
  Double eta;

  @CommandLine.Option(names = "--seed", paramLabel = "SEED", description = "seed")
  Long seed;

  @CommandLine.Option(names = "--guidance", paramLabel = "W", description = "guidance scale, in [0, 100]")
  Double guidance;

  @CommandLine.Option(names = "--spacing", description = "σ spacing")
  String spacing;

  /**
   * The options as given.
   *
   * @throws io.latentlab.lab.UsageException if a value is out of its range
   */
  SamplingOptions options() {
    return new SamplingOptions(sampler, steps, eta, seed, guidance, spacing);
  }

  /** A command whose task uses some of the shared sampling options. */
  interface Command {
    /** The options the task uses (the others are removed from the command). */
    Set<Option> samplingOptions();

    /** The task's defaults: shown in {@code --help}. */
    SamplingOptions samplingDefaults();

    /** How help names a null default, e.g. "default: the run's". */
    default String unsetDefault() {
      return "default: the task's";
    }

    /**
     * How help names the null default of one option: {@link #unsetDefault()}, unless a
     * command's defaults come from different places (sample: η the sampler's, spacing the
     * model's).
     */
    default String unsetDefault(Option option) {
      return unsetDefault();
    }
  }

  /**
   * Fits the shared options to one command: removes those its task does not use (so they stay
   * unknown options there, as before they were shared) and appends the task's default to each
   * description, so {@code --help} says it while the task classes keep the one copy.
   */
  static void adapt(CommandSpec spec, Command command) {
    for (Option option : Option.values()) {
      OptionSpec declared = spec.findOption(option.flag());
      if (declared == null) {
        continue;
      }
      spec.remove(declared);
      if (command.samplingOptions().contains(option)) {
        String description = String.join(" ", declared.description()) + " ("
            + command.samplingDefaults().describeDefault(option, command.unsetDefault(option)) + ")";
        spec.addOption(OptionSpec.builder(declared).description(description).build());
      }
    }
  }
}
