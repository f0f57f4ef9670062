package io.latentlab.shell;

import io.latentlab.config.ConfigBuilder;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * An experiment config as JShell holds it: a file and the overrides applied to it, checked as
 * {@code latentlab run FILE key=value ...} would check them. Immutable: {@link #set} returns a
 * new config, so one base can start several variants.
 *
 * <pre>{@code
 * var base = lab.config("experiments/quickstart.yaml");
 * var longer = base.set("train.unet.steps", 5000).set("sample.sampler", "heun");
 * }</pre>
 *
 * Every value is checked at once (unknown keys, types, ranges, with the file and key named in
 * one line); the model sections are checked by Python when the config runs.
 */
public final class Config {
  private final Lab lab;
  private final Path file;
  private final List<String> overrides;
  private final ExperimentConfig experiment;

  private Config(Lab lab, Path file, List<String> overrides, ExperimentConfig experiment) {
    this.lab = lab;
    this.file = file;
    this.overrides = List.copyOf(overrides);
    this.experiment = experiment;
  }

  /** Loads and checks {@code file} with {@code overrides} (command-line form). */
  static Config load(Lab lab, Path file, List<String> overrides) {
    return new Config(lab, file, overrides, new ConfigLoader().load(file, overrides));
  }

  /**
   * This config with one more value: {@code set("train.unet.steps", 200)} is the command-line
   * override {@code train.unet.steps=200}. A later value for the same key wins.
   *
   * @param keyPath a dotted key path, e.g. {@code sample.guidance_scale}
   * @param value a number, string, boolean, or a list of them
   * @throws LabException in one line naming the key, if the value is refused
   */
  public Config set(String keyPath, Object value) {
    return lab.guard(() -> {
      Objects.requireNonNull(keyPath, "keyPath: give a dotted key path, e.g. train.unet.steps");
      Objects.requireNonNull(value, keyPath + ": give a value (null is not one)");
      ConfigBuilder builder = ConfigBuilder.from(file);
      overrides.forEach(builder::override);
      return load(lab, file, builder.set(keyPath, value).overrides());
    });
  }

  /**
   * This config with one more override as the command line spells it, {@code key.path=value}
   * (the value read as YAML).
   *
   * @throws LabException in one line naming the override, if it is refused
   */
  public Config override(String keyEqualsValue) {
    return lab.guard(() -> {
      Objects.requireNonNull(keyEqualsValue, "give key.path=value, e.g. train.unet.steps=500");
      ConfigBuilder builder = ConfigBuilder.from(file);
      overrides.forEach(builder::override);
      return load(lab, file, builder.override(keyEqualsValue).overrides());
    });
  }

  /** The config file. */
  public Path file() {
    return file;
  }

  /** The overrides, in command-line form ({@code key.path=value}), in the order applied. */
  public List<String> overrides() {
    return overrides;
  }

  /** The checked config, defaults filled in (model sections as written). */
  public ExperimentConfig experiment() {
    return experiment;
  }

  /** The experiment's name. */
  public String name() {
    return experiment.name();
  }

  /** The config as YAML with sorted keys, defaults filled in. */
  public String yaml() {
    return new ConfigLoader().toYaml(experiment);
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof Config that && file.equals(that.file) && overrides.equals(that.overrides);
  }

  @Override
  public int hashCode() {
    return Objects.hash(file, overrides);
  }

  /** E.g. {@code Config quickstart (experiments/quickstart.yaml, train.unet.steps=200)}. */
  @Override
  public String toString() {
    StringBuilder text = new StringBuilder("Config ").append(experiment.name()).append(" (")
        .append(lab.display(file));
    overrides.forEach(o -> text.append(", ").append(o));
    return text.append(')').toString();
  }
}
