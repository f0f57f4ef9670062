package io.latentlab.lab;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.run.DataSource;
import io.latentlab.run.DataSources;
import io.latentlab.run.RunDirectory;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * A completed run whose model a task applies (evaluate, denoise, inpaint, anomaly): its
 * directory, config and checkpoint, found and checked before any work, each problem a one-line
 * {@link UsageException}.
 *
 * @param dir the run directory, absolute
 * @param config its recorded config
 * @param checkpoint its {@code checkpoint/} folder
 */
public record ModelRun(Path dir, ExperimentConfig config, Path checkpoint) {
  /**
   * How many held-out digits denoise and inpaint use when the request names no number (at most
   * the run's {@code data.holdout}).
   */
  public static final int DEFAULT_HELDOUT = 200;

  private static final ObjectMapper JSON = ResultJson.MAPPER;

  /**
   * The run in {@code dir}, checked to be completed ({@link RunDirectory#isCompleted}) and to
   * hold trained weights ({@link RunDirectory#hasTrainedWeights}).
   *
   * @param fix what the user should do if it has no weights, e.g. "name a completed run"
   * @throws UsageException if it is not a completed run or has no weights
   */
  public static ModelRun find(Path dir, String fix) {
    Path folder = dir.toAbsolutePath().normalize();
    try {
      RunDirectory.existing(folder);
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    Path checkpoint = folder.resolve(RunDirectory.CHECKPOINT);
    Path textModel = checkpoint.resolve("model");
    if (!RunDirectory.hasTrainedWeights(folder) && Files.isRegularFile(textModel.resolve(SampleTask.MODEL_FILE))) {
      throw new UsageException(dir + " trained a text-to-image model (" + textModel
          + "), which this command does not take; sample it with ./latentlab sample " + textModel
          + " --prompt \"...\"");
    }
    if (!RunDirectory.hasTrainedWeights(folder)) {
      throw new UsageException(dir + " has no trained weights (" + checkpoint + "/"
          + RunDirectory.CHECKPOINT_MANIFEST + "); " + fix);
    }
    return new ModelRun(folder, new ConfigLoader().load(folder.resolve(RunDirectory.CONFIG)), checkpoint);
  }

  /** {@link #find(Path, String)} for tasks that apply the model: "name a completed run". */
  public static ModelRun find(Path dir) {
    return find(dir, "name a completed run");
  }

  /** The run's {@code data.holdout}: how many held-out digits it set aside. */
  public int holdout() {
    return config.data().holdout();
  }

  /**
   * The number of held-out digits a request asks for: {@code requested}, or
   * {@link #DEFAULT_HELDOUT} capped at the run's {@code data.holdout} when null.
   *
   * @throws UsageException if it is not in [1, data.holdout]
   */
  public int heldout(Integer requested) {
    int count = requested == null ? Math.min(DEFAULT_HELDOUT, holdout()) : requested;
    if (count < 1 || count > holdout()) {
      throw new UsageException("--heldout: must be in [1, data.holdout = " + holdout() + "], got " + count);
    }
    return count;
  }

  /**
   * The run's whole data section as canonical JSON ({@code dataset}, {@code path},
   * {@code holdout}, {@code classes}, preprocessing...): Python opens the run's data from it.
   */
  String dataJson() {
    try {
      return JSON.readTree(new ConfigLoader().canonicalJson(config)).get("data").toString();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Where the run's digits are (checked by Python, as for training). */
  DataSource data(PythonBridge bridge, Path home) {
    return DataSources.of(bridge, home, dir.resolve(RunDirectory.CONFIG), new ConfigLoader().canonicalJson(config));
  }

  /**
   * Has Python check and fill a request ({@code function} raises ValueError for a bad option,
   * its message starting with the option's name); a refusal becomes a {@link UsageException}.
   */
  static ObjectNode checkedRequest(PythonBridge bridge, String function, ObjectNode request) {
    try {
      return (ObjectNode) JSON.readTree(bridge.callForString(function, request.toString()));
    } catch (PythonException e) {
      if (e.pythonType().equals("ValueError")) {
        throw new UsageException("--" + e.pythonMessage());
      }
      throw e;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * What a failed Python call of a task's work becomes: a ValueError (an input Python refused,
   * found only while working) a {@link UsageException} with its message after
   * {@code usagePrefix}; anything else stays the failure it is.
   */
  static RuntimeException refusal(String usagePrefix, PythonException e) {
    return e.pythonType().equals("ValueError") ? new UsageException(usagePrefix + e.pythonMessage()) : e;
  }

  /** A picture as PNG bytes. */
  static byte[] png(BufferedImage image) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      ImageIO.write(image, "png", out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }
}
