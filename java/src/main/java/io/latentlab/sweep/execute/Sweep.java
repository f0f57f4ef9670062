package io.latentlab.sweep.execute;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonEnvironment;
import io.latentlab.sweep.SweepLoader;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.SweepResults;
import io.latentlab.sweep.SweepSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A sweep from Java or JShell: loaded from a file, or built.
 *
 * <pre>{@code
 * Sweep sweep = Sweep.sampling("quickstart").name("samplers")
 *     .grid("sample.sampler", List.of("ddim", "euler", "dpmpp_2m"))
 *     .grid("sample.steps", List.of(5, 10, 20))
 *     .evaluate(200).build();
 * SweepResults results = sweep.run();           // this JVM, the project's runs/
 * results.best("fid", true).ifPresent(System.out::println);
 * }</pre>
 *
 * A built sweep is written as YAML and read back by {@link SweepLoader}, so it is checked
 * exactly as a file is, and its sweep directory keeps that YAML as {@code sweep.yaml}.
 */
public final class Sweep {
  private final SweepSpec spec;

  private Sweep(SweepSpec spec) {
    this.spec = spec;
  }

  /**
   * Loads a sweep file.
   *
   * @throws io.latentlab.config.ConfigException in one line for a bad file
   */
  public static Sweep load(Path file) {
    return new Sweep(new SweepLoader().load(file));
  }

  /** Starts a sampling sweep over a completed run (trial-id prefix, directory or experiment). */
  public static Builder sampling(String run) {
    return new Builder("run", run);
  }

  /** Starts a prompt sweep over an imported text-to-image model (axes: sample.prompt, ...). */
  public static Builder prompts(String model) {
    return new Builder("model", model);
  }

  /** Starts a training sweep over an experiment config. */
  public static Builder training(Path base) {
    return new Builder("base", base.toAbsolutePath().normalize().toString());
  }

  /** The checked sweep file. */
  public SweepSpec spec() {
    return spec;
  }

  /** Plans it against a runner's runs root (writes nothing). */
  public SweepPlan plan(SweepRunner runner) {
    return runner.plan(spec);
  }

  /** Runs it with an executor under a runner's runs root; failed trials are not retried. */
  public SweepResults run(SweepRunner runner, SweepExecutor executor) {
    return runner.run(runner.plan(spec), executor, false, SweepExecutor.SweepProgress.NONE);
  }

  /** Runs it in this JVM under the project's {@code runs/}. */
  public SweepResults run() {
    Path home = PythonEnvironment.discoverHome();
    PythonBridge bridge = PythonBridge.start(home);
    return run(new SweepRunner(home, home.resolve("runs"), bridge), SweepExecutors.local(home, bridge));
  }

  @Override
  public String toString() {
    return "Sweep " + spec.name() + " (" + (spec.sampling() ? "sampling run " + spec.run()
        : spec.prompts() ? "prompts to model " + spec.model() : "training " + spec.base()) + ", axes " + new SweepPlan(spec, null, List.of()).axes() + ")";
  }

  /** Builds a sweep; {@link #build()} checks it as a file would be. */
  public static final class Builder {
    private final Map<String, Object> yaml = new LinkedHashMap<>();
    private final Map<String, Object> grid = new LinkedHashMap<>();
    private final Map<String, Object> zip = new LinkedHashMap<>();

    private Builder(String key, String target) {
      yaml.put("sweep", "sweep");
      yaml.put(key, target);
    }

    /** The sweep's name (default {@code sweep}). */
    public Builder name(String name) {
      yaml.put("sweep", name);
      return this;
    }

    /** Adds a crossed axis: a config key path and its values. */
    public Builder grid(String keyPath, List<?> values) {
      grid.put(keyPath, List.copyOf(values));
      return this;
    }

    /** Adds an axis advanced together with the other zip axes. */
    public Builder zip(String keyPath, List<?> values) {
      zip.put(keyPath, List.copyOf(values));
      return this;
    }

    /** {@code n} random draws from a space (key path → {@code loguniform(a, b)} etc.). */
    public Builder random(int n, long seed, Map<String, String> space) {
      yaml.put("random", Map.of("n", n, "seed", seed, "space", new LinkedHashMap<>(space)));
      return this;
    }

    /** Samples each trial is scored with: every sampling trial; in a training sweep, set only
     * if each trained trial should be scored too (by sampling it with its own settings). */
    public Builder evaluate(int samples) {
      yaml.put("evaluate", Map.of("samples", samples));
      return this;
    }

    /** Replicates of each training trial. */
    public Builder replicates(int replicates) {
      yaml.put("replicates", replicates);
      return this;
    }

    /**
     * Writes the sweep as YAML (to a temporary file) and loads it.
     *
     * @throws io.latentlab.config.ConfigException in one line for a bad sweep
     */
    public Sweep build() {
      Map<String, Object> all = new LinkedHashMap<>(yaml);
      if (!grid.isEmpty()) {
        all.put("grid", grid);
      }
      if (!zip.isEmpty()) {
        all.put("zip", zip);
      }
      try {
        Path file = Files.createTempFile("latentlab-sweep-", ".yaml");
        file.toFile().deleteOnExit();
        ObjectNode tree = new ObjectMapper().valueToTree(all);
        Files.writeString(file, new YAMLMapper().writeValueAsString(tree));
        return load(file);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write the sweep's YAML", e);
      }
    }
  }
}
