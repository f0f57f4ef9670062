package io.latentlab.run;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.config.TrialId;
import java.nio.file.Path;

/**
 * Turns a config (with its overrides already applied) and a replicate index into a
 * {@link Trial}: Python checks and fills the sections it owns, the canonical resolved config,
 * less what does not change results ({@link ConfigLoader#identityJson}), is hashed into the
 * trial id, and the id names the run directory. Nothing is written, so a sweep
 * can plan all its trials before running any.
 *
 * <p>Use from any thread (the bridge serializes Python calls).
 */
public final class TrialPlanner {
  private final Path runsRoot;
  private final PythonBridge bridge;
  private final ConfigLoader loader = new ConfigLoader();

  /**
   * @param runsRoot where run directories go, usually {@code <project>/runs}
   * @param bridge the JVM's Python, which resolves the model sections
   */
  public TrialPlanner(Path runsRoot, PythonBridge bridge) {
    this.runsRoot = runsRoot.toAbsolutePath().normalize();
    this.bridge = bridge;
  }

  /** The runs root trials are planned under. */
  public Path runsRoot() {
    return runsRoot;
  }

  /**
   * Plans replicate {@code replicate} of a config: replicate 0 is the config's own randomness,
   * others fold their index into the seed and get their own trial id.
   *
   * @param configFile names the file in error messages
   * @throws ConfigException in one line if Python refuses a model section, a name or a range
   * @throws IllegalArgumentException if {@code replicate} is negative
   */
  public Trial plan(Path configFile, ExperimentConfig config, int replicate) {
    if (replicate < 0) {
      throw new IllegalArgumentException("replicate must be >= 0, got " + replicate);
    }
    String resolvedJson;
    try {
      resolvedJson = bridge.callForString("resolve_config", loader.canonicalJson(config));
    } catch (PythonException e) {
      if ("ValueError".equals(e.pythonType())) {
        throw new ConfigException(configFile + ": " + e.pythonMessage());
      }
      throw e;
    }
    ExperimentConfig resolved = loader.fromJson(resolvedJson);
    String canonical = loader.canonicalJson(resolved);
    TrialId id = TrialId.of(loader.identityJson(resolved), replicate);
    return new Trial(configFile, resolved, canonical, id,
        RunDirectory.locate(runsRoot, resolved.name(), id));
  }
}
