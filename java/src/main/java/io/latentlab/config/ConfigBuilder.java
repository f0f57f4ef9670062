package io.latentlab.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds a config from a file and overrides in Java (JShell, notebooks, sweeps), with the same
 * {@code key.path=value} grammar as the command line: {@code set("train.unet.steps", 500)} is
 * the override {@code train.unet.steps=500}.
 *
 * <pre>{@code
 * ExperimentConfig config = ConfigBuilder.from(Path.of("experiments/quickstart.yaml"))
 *     .set("train.unet.steps", 500)
 *     .set("sample.sampler", "heun")
 *     .build();
 * }</pre>
 */
public final class ConfigBuilder {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final Path file;
  private final List<String> overrides = new ArrayList<>();

  private ConfigBuilder(Path file) {
    this.file = file;
  }

  /** Starts from a config file (and its {@code extends:} chain). */
  public static ConfigBuilder from(Path file) {
    return new ConfigBuilder(file);
  }

  /**
   * Sets one value; it is written as JSON, which the override grammar reads as YAML.
   *
   * @param keyPath e.g. {@code train.unet.steps}
   * @param value a number, string, boolean or list of them
   */
  public ConfigBuilder set(String keyPath, Object value) {
    try {
      overrides.add(keyPath + "=" + JSON.writeValueAsString(value));
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(keyPath + ": cannot write " + value, e);
    }
    return this;
  }

  /** Adds an override as the command line spells it, {@code key.path=value}. */
  public ConfigBuilder override(String keyEqualsValue) {
    overrides.add(keyEqualsValue);
    return this;
  }

  /** The overrides so far, in command-line form. */
  public List<String> overrides() {
    return List.copyOf(overrides);
  }

  /**
   * Loads and validates.
   *
   * @throws ConfigException naming the file or the override at fault
   */
  public ExperimentConfig build() {
    return new ConfigLoader().load(file, overrides);
  }
}
