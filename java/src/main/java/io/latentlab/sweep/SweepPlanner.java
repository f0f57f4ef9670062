package io.latentlab.sweep;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonConstants;
import io.latentlab.config.ConfigException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.lab.SampleTask;
import io.latentlab.lab.UsageException;
import io.latentlab.run.RunDirectory;
import io.latentlab.run.Trial;
import io.latentlab.run.TrialPlanner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Expands a sweep file into its plan: every trial's axis values, overrides and id, each checked
 * against the config it varies (unknown keys, wrong types, out-of-range values and unknown
 * names are refused in one line naming the sweep file's line:column), before anything runs.
 * Writes nothing.
 */
public final class SweepPlanner {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path home;
  private final Path runsRoot;
  private final PythonBridge bridge;
  private final ConfigLoader loader = new ConfigLoader();

  /**
   * @param home the project root (a prompt sweep's model is under its {@code models/})
   * @param runsRoot where runs (and {@code sweeps/}) live
   * @param bridge the JVM's Python, which resolves configs and knows the sampler names
   */
  public SweepPlanner(Path home, Path runsRoot, PythonBridge bridge) {
    this.home = home.toAbsolutePath().normalize();
    this.runsRoot = runsRoot.toAbsolutePath().normalize();
    this.bridge = bridge;
  }

  /** The runs root plans are made under. */
  public Path runsRoot() {
    return runsRoot;
  }

  /**
   * Plans a sweep.
   *
   * @throws ConfigException in one line if an axis, a value, the run or the size is refused
   */
  public SweepPlan plan(SweepSpec spec) {
    List<Map<String, Object>> combinations = combinations(spec);
    int total = combinations.size() * spec.replicates();
    if (total > spec.maxTrials()) {
      throw new ConfigException(spec.file() + ": max_trials: the sweep has " + total
          + " trials, more than max_trials = " + spec.maxTrials() + "; raise it or shrink the axes");
    }
    return spec.sampling() ? planSampling(spec, combinations)
        : spec.prompts() ? planPrompts(spec, combinations) : planTraining(spec, combinations);
  }

  /** Each combination one sample request of the model, checked by Python; its id names it. */
  private SweepPlan planPrompts(SweepSpec spec, List<Map<String, Object>> combinations) {
    SampleTask task = new SampleTask(home, runsRoot);
    try {
      task.modelFolder(spec.model());
    } catch (UsageException e) {
      throw new ConfigException(where(spec, "model") + ": model: " + e.getMessage());
    }
    List<SweepPlan.PlannedTrial> trials = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (Map<String, Object> axes : combinations) {
      Path folder;
      try {
        folder = PromptTrials.folder(task, spec.model(), axes);
      } catch (ConfigException e) {
        throw located(spec, axes, e);
      }
      String id = folder.getFileName().toString();
      if (!seen.add(id)) {
        throw new ConfigException(spec.file() + ": two trials are one request (" + id + ", " + axes
            + "); an axis changes nothing the request keeps");
      }
      trials.add(new SweepPlan.PlannedTrial(trials.size(), id, axes, overrides(axes), 0, folder));
    }
    return new SweepPlan(spec, null, trials);
  }

  /** Grid (first axis slowest) × zip rows × random draws, each a map key path → value. */
  static List<Map<String, Object>> combinations(SweepSpec spec) {
    List<Map<String, Object>> out = new ArrayList<>();
    out.add(new LinkedHashMap<>());
    for (Map.Entry<String, List<Object>> axis : spec.grid().entrySet()) {
      List<Map<String, Object>> next = new ArrayList<>();
      for (Map<String, Object> partial : out) {
        for (Object value : axis.getValue()) {
          Map<String, Object> extended = new LinkedHashMap<>(partial);
          extended.put(axis.getKey(), value);
          next.add(extended);
        }
      }
      out = next;
    }
    if (!spec.zip().isEmpty()) {
      int rows = spec.zip().values().iterator().next().size();
      List<Map<String, Object>> next = new ArrayList<>();
      for (Map<String, Object> partial : out) {
        for (int row = 0; row < rows; row++) {
          Map<String, Object> extended = new LinkedHashMap<>(partial);
          for (Map.Entry<String, List<Object>> axis : spec.zip().entrySet()) {
            extended.put(axis.getKey(), axis.getValue().get(row));
          }
          next.add(extended);
        }
      }
      out = next;
    }
    if (spec.random() != null) {
      List<Map<String, Object>> draws = RandomDraws.draw(spec.random());
      List<Map<String, Object>> next = new ArrayList<>();
      for (Map<String, Object> partial : out) {
        for (Map<String, Object> draw : draws) {
          Map<String, Object> extended = new LinkedHashMap<>(partial);
          extended.putAll(draw);
          next.add(extended);
        }
      }
      out = next;
    }
    return out;
  }

  /** The overrides {@code key.path=value} of axis values (values as JSON, which YAML reads). */
  static List<String> overrides(Map<String, Object> axes) {
    List<String> overrides = new ArrayList<>();
    axes.forEach((key, value) -> {
      try {
        overrides.add(key + "=" + JSON.writeValueAsString(value));
      } catch (JsonProcessingException e) {
        throw new IllegalStateException(e);
      }
    });
    return overrides;
  }

  private SweepPlan planTraining(SweepSpec spec, List<Map<String, Object>> combinations) {
    TrialPlanner planner = new TrialPlanner(runsRoot, bridge);
    List<SweepPlan.PlannedTrial> trials = new ArrayList<>();
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (Map<String, Object> axes : combinations) {
      List<String> overrides = overrides(axes);
      for (int replicate = 0; replicate < spec.replicates(); replicate++) {
        Trial trial;
        try {
          ExperimentConfig config = loader.load(spec.base(), overrides);
          if (spec.evaluate() != null && spec.evaluate().samples() > config.data().holdout()) {
            throw new ConfigException(spec.file() + ": evaluate.samples: " + spec.evaluate().samples()
                + " is more than the trials' data.holdout (" + config.data().holdout() + "), whose "
                + "images give the FID floor; lower evaluate.samples or raise data.holdout");
          }
          trial = planner.plan(spec.base(), config, replicate);
        } catch (ConfigException e) {
          throw located(spec, axes, e);
        }
        if (!seen.add(trial.id().shortId())) {
          throw new ConfigException(spec.file() + ": two trials of the sweep are the same run ("
              + trial.id().shortId() + ", " + axes + "); an axis changes nothing the config keeps");
        }
        trials.add(new SweepPlan.PlannedTrial(trials.size(), trial.id().shortId(), axes, overrides,
            replicate, trial.directory()));
      }
    }
    return new SweepPlan(spec, null, trials);
  }

  private SweepPlan planSampling(SweepSpec spec, List<Map<String, Object>> combinations) {
    Path run;
    try {
      run = findRun(spec.run());
    } catch (IllegalArgumentException e) {
      throw new ConfigException(where(spec, "run") + ": run: " + e.getMessage());
    }
    if (!RunDirectory.isCompleted(run) || !RunDirectory.hasTrainedWeights(run)) {
      throw new ConfigException(where(spec, "run") + ": run: " + run
          + " is not a completed run with a checkpoint; run it to completion first");
    }
    String runTrialId = SamplingTrials.runTrialId(run);
    PythonConstants names = PythonConstants.of(bridge);
    List<SweepPlan.PlannedTrial> trials = new ArrayList<>();
    for (Map<String, Object> axes : combinations) {
      List<String> overrides = overrides(axes);
      Map<String, Object> request;
      try {
        request = SamplingTrials.request(loader, run, overrides, spec.evaluate(), bridge);
      } catch (ConfigException e) {
        throw located(spec, axes, e);
      }
      trials.add(new SweepPlan.PlannedTrial(trials.size(), SamplingTrials.trialId(runTrialId, request),
          axes, overrides, 0, run));
    }
    return new SweepPlan(spec, run, trials);
  }

  /**
   * A run named by directory, trial-id prefix, or experiment name (its one completed run).
   *
   * @throws IllegalArgumentException in one line if it names none or several
   */
  private Path findRun(String run) {
    Path experiment = runsRoot.resolve(run).normalize();
    if (run.matches("[a-z0-9][a-z0-9_-]*") && experiment.startsWith(runsRoot)
        && Files.isDirectory(experiment) && !run.equals(SweepDirectory.SWEEPS)) {
      List<Path> completed;
      try (var runs = Files.list(experiment)) {
        completed = runs.filter(p -> p.getFileName().toString().matches("[0-9a-f]{12}"))
            .filter(RunDirectory::isCompleted).sorted().toList();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException("cannot list " + experiment, e);
      }
      if (completed.size() == 1) {
        return completed.get(0);
      }
      if (completed.size() > 1) {
        throw new IllegalArgumentException("experiment '" + run + "' has " + completed.size()
            + " completed runs (" + String.join(", ", completed.stream()
                .map(p -> p.getFileName().toString()).toList()) + "); name one by its trial id");
      }
    }
    return RunDirectory.find(runsRoot, run);
  }

  private static String where(SweepSpec spec, String key) {
    return SweepFiles.position(spec.file(), key);
  }

  /**
   * A config error of one trial, moved to the sweep file's line:column of the axis it names
   * (an override {@code key=value} or the key itself in the message).
   */
  private static ConfigException located(SweepSpec spec, Map<String, Object> axes, ConfigException e) {
    String message = e.getMessage();
    if (spec.base() != null && message.startsWith(spec.base() + ": ")) {
      message = message.substring(spec.base().toString().length() + 2); // the axis says where
    }
    for (String axis : axes.keySet()) {
      String override = "override '" + axis + "=";
      int at = message.indexOf(override);
      boolean named = at >= 0 || message.contains(axis + ":") || message.contains(axis + " ");
      if (named) {
        String reason = at >= 0 ? message.substring(message.indexOf("': ", at) + 3) : message;
        String section = spec.grid().containsKey(axis) ? "grid." : spec.zip().containsKey(axis)
            ? "zip." : "random.space.";
        return new ConfigException(SweepFiles.position(spec.file(), section + axis) + ": "
            + section + axis + " = " + axes.get(axis) + ": " + reason);
      }
    }
    return new ConfigException(spec.file() + ": " + message);
  }
}
