package io.latentlab.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.CallInterruptedException;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.tensor.Allocators;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorSlot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Runs trials one at a time in this JVM's Python: claims the trial, creates its run directory,
 * records provenance, trains and samples through the bridge, and hands the outputs to
 * {@link RunArtifacts}. A JVM stopped by SIGINT or SIGTERM mid-run records the run
 * {@code interrupted}; it resumes from its checkpoints when run again.
 */
final class InProcessExecutor implements TrialExecutor {
  private static final DateTimeFormatter STAMP = DateTimeFormatter
      .ofPattern("yyyyMMdd'T'HHmmssSSS'Z'").withZone(ZoneOffset.UTC);

  private final Path home;
  private final PythonBridge bridge;
  private final ConfigLoader loader = new ConfigLoader();
  private final MlflowTracking.Parent mlflowParent;

  InProcessExecutor(Path home, PythonBridge bridge, MlflowTracking.Parent mlflowParent) {
    this.home = home;
    this.bridge = bridge;
    this.mlflowParent = Objects.requireNonNull(mlflowParent, "mlflowParent");
  }

  @Override
  @SuppressWarnings("try") // the claim is held for the try block, then released
  public RunResult execute(Trial trial, ProgressListener progress, boolean rerun) {
    // Checked before any work: a null listener used to fail only when Python first reported
    // progress, as an exception raised inside the callback, after the run directory existed.
    Objects.requireNonNull(trial, "trial");
    Objects.requireNonNull(progress, "progress: give ProgressListener.NONE for no progress reports");
    if (!rerun && isComplete(trial)) {
      return completed(trial);
    }
    DataSource data = dataSource(trial); // a data mistake must not touch the run directory
    JsonNode machine = RunArtifacts.readJson(bridge.callForString("environment"));
    if (trial.config().execution().processes() > 1) {
      ProcessGroup.checkDevices(trial, machine); // nor a device count that does not split
    }
    try (RunClaim claim = RunClaim.acquire(trial.directory())) {
      if (isComplete(trial)) {
        if (!rerun) {
          return completed(trial); // another process completed it meanwhile
        }
        keepEarlierRun(trial.directory());
      }
      return train(trial, data, machine, progress);
    }
  }

  private RunResult train(Trial trial, DataSource data, JsonNode machine,
      ProgressListener progress) {
    RunDirectory dir = RunDirectory.create(trial.directory().getParent().getParent(),
        trial.config().name(), trial.id(), RunDirectory.CONFIG,
        loader.toYaml(trial.config()).getBytes(StandardCharsets.UTF_8));
    dir.delete(RunDirectory.METRICS); // left by an earlier attempt; Python replays what it keeps
    ProvenanceLog provenance = new ProvenanceLog(dir, provenance(trial, data, machine));
    Thread onInterrupt = new Thread(() -> {
      if (provenance.end("interrupted", "the process was stopped (SIGINT/SIGTERM)")) {
        System.err.printf("%nlatentlab: interrupted; %s is recorded 'interrupted' and resumes from "
            + "its last checkpoint when run again%n", dir.path());
      }
    }, "latentlab-interrupted-run");
    Runtime.getRuntime().addShutdownHook(onInterrupt);
    MlflowTracking.start(bridge, dir.path(), trial, mlflowParent);
    try (BufferAllocator allocator = Allocators.aligned();
        TensorSlot latentSlot = TensorSlot.allocate(allocator);
        TensorSlot imageSlot = TensorSlot.allocate(allocator)) {
      ProgressListener recording = (stage, step, total, loss) -> {
        if (!Double.isNaN(loss)) {
          dir.appendLine(RunDirectory.METRICS, String.format(Locale.ROOT,
              "{\"stage\":\"%s\",\"step\":%d,\"loss\":%s}", stage, step, loss));
        }
        progress.update(stage, step, total, loss);
      };
      int processes = trial.config().execution().processes();
      JsonNode output;
      Tensor latentsOut;
      Tensor imagesOut;
      if (processes > 1) { // python -m latentlab.distributed, once per process
        ProcessGroup.Outputs outputs = new ProcessGroup(home, dir, processes)
            .run(trial, machine, recording, allocator);
        output = outputs.output();
        latentsOut = outputs.latents();
        imagesOut = outputs.images();
      } else {
        output = RunArtifacts.readJson(bridge.callForString("train_and_sample",
            trial.canonicalJson(), trial.id().replicate(), home.toString(),
            dir.path().resolve(RunDirectory.CHECKPOINT).toString(), recording,
            latentSlot.arrayAddress(), latentSlot.schemaAddress(),
            imageSlot.arrayAddress(), imageSlot.schemaAddress()));
        latentsOut = latentSlot.take();
        imagesOut = imageSlot.take();
      }
      try (Tensor latents = latentsOut; Tensor images = imagesOut) {
        ObjectNode result = RunArtifacts.write(dir, trial, output, latents, images);
        provenance.end("completed", null);
        MlflowTracking.finish(bridge, dir.path(), trial, "FINISHED");
        return new RunResult(dir.path(), RunArtifacts.toMap(result), false);
      }
    } catch (CallInterruptedException e) {
      provenance.end("interrupted", "stopped by an interrupt of the calling thread (a notebook's "
          + "interrupt, JShell's Ctrl-C)");
      MlflowTracking.finish(bridge, dir.path(), trial, "KILLED");
      throw e;
    } catch (RuntimeException e) {
      provenance.end("failed", e.getMessage());
      MlflowTracking.finish(bridge, dir.path(), trial, "FAILED");
      throw e;
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(onInterrupt);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running or has run: it recorded the interruption
      }
    }
  }

  private static boolean isComplete(Trial trial) {
    return RunDirectory.isCompleted(trial.directory());
  }

  private static RunResult completed(Trial trial) {
    return new RunResult(trial.directory(),
        RunArtifacts.toMap(RunArtifacts.readJson(trial.directory().resolve(RunDirectory.RESULT))),
        true);
  }

  private static void keepEarlierRun(Path directory) {
    Path kept = directory.resolveSibling(directory.getFileName() + ".replaced-"
        + STAMP.format(Instant.now()));
    try {
      Files.move(directory, kept, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot keep the earlier run " + directory, e);
    }
  }

  /**
   * Where the trial's data is and what it holds, as Python reports it.
   *
   * @throws ConfigException naming the config file and key, for a data mistake
   */
  DataSource dataSource(Trial trial) {
    return DataSources.of(bridge, home, trial.configFile(), trial.canonicalJson());
  }

  private Provenance provenance(Trial trial, DataSource data, JsonNode machine) {
    Map<String, String> javaSide = new TreeMap<>();
    javaSide.put("java", System.getProperty("java.version"));
    javaSide.put("java_vendor", System.getProperty("java.vendor"));
    javaSide.put("latentlab", BuildInfo.get("version"));
    javaSide.put("jep_jar", bridge.environment().jarJepVersion());
    javaSide.put("arrow", BuildInfo.get("arrow.version"));
    return new Provenance(trial.config().name(), trial.id().sha256(), trial.id().replicate(),
        Hashing.sha256(trial.canonicalJson().getBytes(StandardCharsets.UTF_8)),
        relative(trial.configFile()), GitState.of(home), javaSide,
        machine, data.files(), data, Instant.now(),
        null, "running", null, Provenance.slurmJob(System.getenv()));
  }

  private String relative(Path file) {
    Path absolute = file.toAbsolutePath().normalize();
    return absolute.startsWith(home) ? home.relativize(absolute).toString()
        : file.getFileName().toString();
  }

  /**
   * A run's provenance.json, ended exactly once: by the run itself (completed, failed) or by
   * the shutdown hook of an interrupted JVM, whichever comes first.
   */
  private static final class ProvenanceLog {
    private final RunDirectory dir;
    private final Provenance started;
    private final AtomicBoolean ended = new AtomicBoolean();

    ProvenanceLog(RunDirectory dir, Provenance started) {
      this.dir = dir;
      this.started = started;
      dir.write(RunDirectory.PROVENANCE, RunArtifacts.json(started));
    }

    /** Records the end; false if it was already recorded. */
    boolean end(String status, String error) {
      if (!ended.compareAndSet(false, true)) {
        return false;
      }
      dir.write(RunDirectory.PROVENANCE, RunArtifacts.json(started.ended(status, error)));
      return true;
    }
  }
}
