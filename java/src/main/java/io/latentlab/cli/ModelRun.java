package io.latentlab.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.run.DataSource;
import io.latentlab.run.DataSources;
import io.latentlab.run.RunDirectory;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import picocli.CommandLine;

/**
 * A completed run whose model a command applies (denoise, anomaly): its directory, config and
 * checkpoint, found and checked before any work, each problem a one-line usage error.
 *
 * @param dir the run directory
 * @param config its recorded config
 * @param checkpoint its {@code checkpoint/} folder
 */
record ModelRun(Path dir, ExperimentConfig config, Path checkpoint) {
  private static final ObjectMapper JSON = ResultJson.MAPPER;

  /** Finds RUN and checks that it holds trained weights. */
  static ModelRun find(CommandLine cli, RunArgument run) throws IOException {
    Path dir = run.find(cli);
    try {
      RunDirectory.existing(dir);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(cli, e.getMessage());
    }
    Path checkpoint = dir.resolve(RunDirectory.CHECKPOINT);
    if (!Files.isRegularFile(checkpoint.resolve("checkpoint.json"))) {
      throw new CommandLine.ParameterException(cli, dir + " has no trained weights ("
          + checkpoint + "/checkpoint.json); name a completed run");
    }
    return new ModelRun(dir, new ConfigLoader().load(dir.resolve("config.yaml")), checkpoint);
  }

  /** The data section Python needs: {@code holdout} and {@code classes} (null: all). */
  String dataJson() {
    ObjectNode data = JSON.createObjectNode();
    data.put("holdout", config.data().holdout());
    data.set("classes", JSON.valueToTree(config.data().classes()));
    return data.toString();
  }

  /** Where the run's digits are (checked by Python, as for training). */
  DataSource data(PythonBridge bridge, Path home) {
    return DataSources.of(bridge, home, dir.resolve("config.yaml"), new ConfigLoader().canonicalJson(config));
  }

  /**
   * Has Python check and fill a request ({@code function} raises ValueError for a bad option);
   * a refusal becomes a one-line usage error.
   */
  static ObjectNode checkedRequest(CommandLine cli, PythonBridge bridge, String function, ObjectNode request) {
    try {
      return (ObjectNode) JSON.readTree(bridge.callForString(function, request.toString()));
    } catch (PythonException e) {
      if (e.pythonType().equals("ValueError")) {
        throw new CommandLine.ParameterException(cli, "--" + e.pythonMessage());
      }
      throw e;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
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
