package io.latentlab.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.config.TrialId;
import io.latentlab.tensor.Images;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorFiles;
import io.latentlab.tensor.TensorSlot;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * Runs one trial of an experiment: resolves its config (Python fills the model sections), names
 * it by hash, creates its run directory, records provenance, trains and samples through the
 * bridge, and writes the results, {@code result.json} last.
 *
 * <p>Use one runner per bridge; not thread-safe.
 */
public final class ExperimentRunner {
  private static final ObjectMapper JSON = new ObjectMapper()
      .registerModule(new JavaTimeModule())
      .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
      .enable(SerializationFeature.INDENT_OUTPUT)
      .setPropertyNamingStrategy(com.fasterxml.jackson.databind.PropertyNamingStrategies.SNAKE_CASE);
  /** The run directory's folder of trained weights, which {@code SamplerSession} opens. */
  public static final String CHECKPOINT = "checkpoint";
  private static final int GRID_COLUMNS = 8;
  private static final int GRID_ZOOM = 2;

  private final Path home;
  private final Path runsRoot;
  private final PythonBridge bridge;
  private final ConfigLoader loader = new ConfigLoader();

  /**
   * @param home the project root (holds {@code .cache/} with the converted data)
   * @param runsRoot where run directories go, usually {@code <home>/runs}
   * @param bridge the JVM's Python
   */
  public ExperimentRunner(Path home, Path runsRoot, PythonBridge bridge) {
    this.home = home;
    this.runsRoot = runsRoot;
    this.bridge = bridge;
  }

  /**
   * Resolves a config's Python-owned sections and names its trial, writing nothing.
   *
   * @param configFile names the file in error messages
   * @throws ConfigException if Python refuses a model section or a sampler/schedule name
   */
  public Trial resolve(Path configFile, ExperimentConfig config) {
    return resolve(configFile, config, 0);
  }

  /**
   * Like {@link #resolve(Path, ExperimentConfig)} for replicate {@code replicate} of the config:
   * the same config run again with other randomness (its own trial id and run directory).
   *
   * @param replicate 0 for the first run of a config
   */
  public Trial resolve(Path configFile, ExperimentConfig config, int replicate) {
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
    TrialId id = TrialId.of(canonical, replicate);
    return new Trial(configFile, resolved, canonical, id, RunDirectory.locate(runsRoot, resolved.name(), id));
  }

  /**
   * Runs a resolved trial, or reports the earlier result if that trial already completed.
   *
   * @param progress told of training and sampling progress (on the Python thread)
   * @return where the results are and what they were
   * @throws PythonException if training or sampling failed (the run is marked failed)
   */
  public RunResult run(Trial trial, ProgressListener progress) {
    return run(trial, progress, false);
  }

  /**
   * Runs a resolved trial; with {@code rerun}, runs it again even if it completed, keeping the
   * earlier run directory under the name {@code <trial>.replaced-<UTC time>}.
   *
   * @throws PythonException if training or sampling failed (the run is marked failed)
   */
  public RunResult run(Trial trial, ProgressListener progress, boolean rerun) {
    if (Files.isRegularFile(trial.directory().resolve(RunDirectory.RESULT))) {
      if (!rerun) {
        return new RunResult(trial.directory(), readJson(trial.directory().resolve(RunDirectory.RESULT)), true);
      }
      String stamp = java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmssSSS'Z'")
          .withZone(java.time.ZoneOffset.UTC).format(Instant.now());
      Path kept = trial.directory().resolveSibling(trial.directory().getFileName() + ".replaced-" + stamp);
      dataFile(trial); // a missing data folder must not move the completed run aside
      try {
        Files.move(trial.directory(), kept, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot keep the earlier run " + trial.directory(), e);
      }
    }
    Path data = dataFile(trial);
    RunDirectory dir = RunDirectory.create(runsRoot, trial.config().name(), trial.id(), "config.yaml",
        loader.toYaml(trial.config()).getBytes(StandardCharsets.UTF_8));
    dir.delete(RunDirectory.METRICS); // left by an earlier attempt that did not complete
    Provenance provenance = provenance(trial, data);
    dir.write("provenance.json", json(provenance));

    try (BufferAllocator allocator = new RootAllocator();
        TensorSlot latentSlot = TensorSlot.allocate(allocator);
        TensorSlot imageSlot = TensorSlot.allocate(allocator)) {
      ProgressListener recording = (stage, step, total, loss) -> {
        if (!Double.isNaN(loss)) {
          dir.appendLine(RunDirectory.METRICS, String.format(java.util.Locale.ROOT,
              "{\"stage\":\"%s\",\"step\":%d,\"loss\":%s}", stage, step, loss));
        }
        progress.update(stage, step, total, loss);
      };
      JsonNode output = readJson(bridge.callForString("train_and_sample",
          loader.canonicalJson(trial.config()), trial.id().replicate(), data.toString(),
          dir.path().resolve(CHECKPOINT).toString(), recording,
          latentSlot.arrayAddress(), latentSlot.schemaAddress(),
          imageSlot.arrayAddress(), imageSlot.schemaAddress()));
      try (Tensor latents = latentSlot.take(); Tensor images = imageSlot.take()) {
        ObjectNode result = writeOutputs(dir, trial, output, latents, images);
        dir.write(RunDirectory.RESULT, json(result));
        dir.write("provenance.json", json(provenance.ended("completed", null)));
        return new RunResult(dir.path(), result, false);
      }
    } catch (RuntimeException e) {
      dir.write("provenance.json", json(provenance.ended("failed", e.getMessage())));
      throw e;
    }
  }

  private ObjectNode writeOutputs(RunDirectory dir, Trial trial, JsonNode output, Tensor latents,
      Tensor images) {
    byte[] png = samplesPng(images);
    byte[] arrow = arrowFile(latents);
    dir.write("samples.png", png);
    dir.write("latents.arrow", arrow);
    ObjectNode result = JSON.createObjectNode();
    result.put("experiment", trial.config().name());
    result.put("trial_id", trial.id().sha256());
    result.put("status", "completed");
    result.set("metrics", output.get("metrics"));
    result.set("sample_labels", output.get("labels"));
    // On CPU the latents Java holds are the jax.Array's own memory (no copy was made).
    result.put("latents_zero_copy",
        latents.dataAddress() == output.get("latents_jax_address").asLong());
    ObjectNode files = result.putObject("outputs");
    files.put("samples.png", Hashing.sha256(png));
    files.put("latents.arrow", Hashing.sha256(arrow));
    return result;
  }

  private Path dataFile(Trial trial) {
    try {
      return dataPath(home, trial.config());
    } catch (ConfigException e) {
      throw new ConfigException(trial.configFile() + ": " + e.getMessage());
    }
  }

  /**
   * Where a config's data lives: the bundled digits' {@code .npz} under {@code .cache/}, or
   * the IDX folder it names.
   *
   * @throws ConfigException if an IDX folder does not exist
   * @throws IllegalStateException if the bundled digits were not set up
   */
  public static Path dataPath(Path home, ExperimentConfig config) {
    if (config.data().dataset().equals("mnist-idx")) {
      Path folder = home.resolve(config.data().path()).normalize();
      if (!folder.startsWith(home) || !Files.isDirectory(folder)) {
        throw new ConfigException("data.path: no folder " + folder
            + "; put MNIST's train-images-idx3-ubyte and train-labels-idx1-ubyte (or .gz) there");
      }
      return folder;
    }
    Path data = home.resolve(".cache").resolve("mnist-digits.npz");
    if (!Files.isRegularFile(data)) {
      throw new IllegalStateException("data set '" + config.data().dataset() + "' is not at " + data
          + "; run ./latentlab setup");
    }
    return data;
  }

  /** The files a data set reads: the file itself, or the IDX files of a folder (sorted). */
  private static List<Path> dataFiles(Path data) {
    if (!Files.isDirectory(data)) {
      return List.of(data);
    }
    try (var files = Files.list(data)) {
      return files.filter(f -> f.getFileName().toString().contains("-idx") && Files.isRegularFile(f))
          .sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + data, e);
    }
  }

  private Provenance provenance(Trial trial, Path data) {
    Map<String, String> javaSide = new TreeMap<>();
    javaSide.put("java", System.getProperty("java.version"));
    javaSide.put("java_vendor", System.getProperty("java.vendor"));
    javaSide.put("latentlab", BuildInfo.get("version"));
    javaSide.put("jep_jar", bridge.environment().jarJepVersion());
    javaSide.put("arrow", BuildInfo.get("arrow.version"));
    Map<String, String> dataHashes = new LinkedHashMap<>();
    for (Path file : dataFiles(data)) {
      dataHashes.put(home.relativize(file).toString(), Hashing.sha256(file));
    }
    return new Provenance(trial.config().name(), trial.id().sha256(), trial.id().replicate(),
        Hashing.sha256(trial.canonicalJson().getBytes(StandardCharsets.UTF_8)),
        relative(trial.configFile()), GitState.of(home), javaSide,
        readJson(bridge.callForString("environment")), dataHashes, Instant.now(), null,
        "running", null);
  }

  private String relative(Path file) {
    Path absolute = file.toAbsolutePath().normalize();
    return absolute.startsWith(home) ? home.relativize(absolute).toString() : file.getFileName().toString();
  }

  /** The samples grid as {@code samples.png} holds it: 8 columns, each pixel 2×2. */
  static byte[] samplesPng(Tensor images) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ImageIO.write(Images.grid(images, GRID_COLUMNS, GRID_ZOOM), "png", out);
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static byte[] arrowFile(Tensor latents) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      TensorFiles.write(out, Map.of("latents", latents));
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static byte[] json(Object value) {
    try {
      return JSON.writeValueAsBytes(value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static JsonNode readJson(String text) {
    try {
      return JSON.readTree(text);
    } catch (IOException e) {
      throw new IllegalStateException("Python returned malformed JSON: " + text, e);
    }
  }

  private static JsonNode readJson(Path file) {
    try {
      return JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  /**
   * A config resolved and named, ready to run.
   *
   * @param configFile the file it came from
   * @param config the resolved config (model sections filled by Python)
   * @param canonicalJson its canonical form, which the trial id hashes
   * @param id the trial id
   * @param directory where its run directory is (or will be)
   */
  public record Trial(Path configFile, ExperimentConfig config, String canonicalJson, TrialId id,
      Path directory) {}

  /**
   * What a run produced.
   *
   * @param directory the run directory
   * @param result the content of its {@code result.json}
   * @param reused true if the trial had already completed and nothing was run
   */
  public record RunResult(Path directory, JsonNode result, boolean reused) {}
}
