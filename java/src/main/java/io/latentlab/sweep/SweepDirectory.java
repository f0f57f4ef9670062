package io.latentlab.sweep;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import io.latentlab.run.RunDirectory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A sweep's folder, {@code <runs>/sweeps/<name>-<plan hash>/} (layout in the package
 * documentation). Every file is written atomically; trial states are written by whichever
 * process runs the trial, so many processes (worker processes, Slurm tasks) share one folder.
 *
 * <p>Thread-safe: it holds no state but its path.
 */
public final class SweepDirectory {
  private static final ObjectMapper JSON = new ObjectMapper()
      .registerModule(new JavaTimeModule())
      .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
      .enable(SerializationFeature.INDENT_OUTPUT)
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
      .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

  /** The runs root's folder of sweep directories. */
  public static final String SWEEPS = "sweeps";
  /** The plan, written before any trial runs. */
  public static final String PLAN = "plan.json";
  /** The sweep file as given. */
  public static final String SPEC = "sweep.yaml";
  /** The trial states' folder. */
  public static final String TRIALS = "trials";
  /** The trial logs' folder. */
  public static final String LOGS = "logs";

  private final Path path;

  private SweepDirectory(Path path) {
    this.path = path;
  }

  /** Where a plan's sweep directory is under a runs root (it may not exist yet). */
  public static Path locate(Path runsRoot, SweepPlan plan) {
    return runsRoot.resolve(SWEEPS).resolve(plan.name() + "-" + plan.hash());
  }

  /** Opens (creating if needed) the sweep directory at {@code path}. */
  public static SweepDirectory open(Path path) {
    try {
      Files.createDirectories(path.resolve(TRIALS));
      Files.createDirectories(path.resolve(LOGS));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the sweep directory " + path, e);
    }
    return new SweepDirectory(path.toAbsolutePath().normalize());
  }

  /** The folder. */
  public Path path() {
    return path;
  }

  /** The log file of a trial. */
  public Path log(String trial) {
    return path.resolve(LOGS).resolve(trial + ".log");
  }

  /** Writes a file of the sweep directory atomically. */
  public void write(String name, byte[] content) {
    Path target = path.resolve(name).normalize();
    if (!target.startsWith(path)) {
      throw new IllegalArgumentException("'" + name + "' would leave the sweep directory");
    }
    try {
      Files.createDirectories(target.getParent());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + target.getParent(), e);
    }
    RunDirectory.writeAtomically(target, out -> out.write(content));
  }

  /**
   * Writes the plan and the sweep file it came from, unless the plan is already there (a
   * sweep run again keeps the files of its first run).
   */
  public void writePlanIfAbsent(SweepPlan plan) {
    try {
      if (!Files.isRegularFile(path.resolve(PLAN))) {
        write(SPEC, Files.readAllBytes(plan.spec().file()));
        write(PLAN, JSON.writeValueAsBytes(plan));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the plan of " + path, e);
    }
  }

  /**
   * The plan a sweep directory holds.
   *
   * @throws IllegalArgumentException if it holds none
   */
  public static SweepPlan readPlan(Path sweepDirectory) {
    Path file = sweepDirectory.resolve(PLAN);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(sweepDirectory + " is not a sweep directory (no "
          + PLAN + ")");
    }
    try {
      return JSON.readValue(file.toFile(), SweepPlan.class);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  /**
   * Writes a record of the sweep directory as JSON atomically, in the same form as its plan and
   * states (snake_case names, sorted keys, ISO-8601 times): the executors' own files.
   */
  public void writeJson(String name, Object value) {
    try {
      write(name, JSON.writeValueAsBytes(value));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + path.resolve(name), e);
    }
  }

  /**
   * Reads a record written by {@link #writeJson}.
   *
   * @throws UncheckedIOException if it is missing or unreadable
   */
  public <T> T readJson(String name, Class<T> type) {
    Path file = path.resolve(name);
    try {
      return JSON.readValue(file.toFile(), type);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  /** Writes a trial's state atomically. */
  public void writeState(TrialState state) {
    try {
      write(TRIALS + "/" + state.trial() + ".json", JSON.writeValueAsBytes(state));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A trial's last written state, if any (an unreadable one counts as none). */
  public Optional<TrialState> state(String trial) {
    Path file = path.resolve(TRIALS).resolve(trial + ".json");
    if (!Files.isRegularFile(file)) {
      return Optional.empty();
    }
    try {
      return Optional.of(JSON.readValue(file.toFile(), TrialState.class));
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /** Every trial's last written state, by trial id. */
  public Map<String, TrialState> states(SweepPlan plan) {
    Map<String, TrialState> states = new LinkedHashMap<>();
    for (SweepPlan.PlannedTrial trial : plan.trials()) {
      state(trial.trial()).ifPresent(s -> states.put(trial.trial(), s));
    }
    return states;
  }
}
