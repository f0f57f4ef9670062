package io.latentlab.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.tensor.Images;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * The one writer of a run's outputs: {@code samples.png}, {@code latents.arrow} and, last,
 * {@code result.json}, whose presence marks the run complete. Every executor writes through it,
 * so a run's files look the same however it was run.
 */
final class RunArtifacts {
  static final ObjectMapper JSON = new ObjectMapper()
      .registerModule(new com.fasterxml.jackson.datatype.jsr310.JavaTimeModule())
      .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
      .enable(SerializationFeature.INDENT_OUTPUT)
      .setPropertyNamingStrategy(com.fasterxml.jackson.databind.PropertyNamingStrategies.SNAKE_CASE);
  private static final int GRID_COLUMNS = 8;
  private static final int GRID_ZOOM = 2;

  private RunArtifacts() {}

  /**
   * Writes the samples and latents, then {@code result.json}.
   *
   * @param output what Python's {@code train_and_sample} returned: {@code metrics},
   *     {@code labels}, {@code latents_jax_address}, {@code execution} (where it ran)
   * @param latents the sampled latents [B, h, w, c]
   * @param images the decoded samples [B, H, W, C] in [0, 1]
   * @return the content of {@code result.json}
   */
  static ObjectNode write(RunDirectory dir, Trial trial, JsonNode output, Tensor latents,
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
    // On CPU the latents Java holds are the jax.Array's own memory (no copy was made); on an
    // accelerator the jax.Array is in device memory and Python made one device→host copy.
    // Over several processes, the first wrote them into an Arrow IPC file that Java maps.
    JsonNode address = output.get("latents_jax_address");
    boolean zeroCopy = address != null && latents.dataAddress() == address.asLong();
    result.put("latents_zero_copy", zeroCopy);
    result.put("latents_handoff", zeroCopy ? "zero-copy" : address == null
        ? "an Arrow IPC file from process 0" : "one device-to-host copy");
    if (output.hasNonNull("execution")) { // backend, devices, mesh and precision it ran on
      result.set("execution", output.get("execution"));
    }
    // The shared stages it used: the VAE stage's hash (reused or trained here) and the latent
    // cache file (name, path, VAE weights' hash, data fingerprint) that lab.latents(run) opens;
    // a text model's folder (path, weights hash, prompts) and the model it fine-tuned.
    for (String stage : new String[] {"vae_stage", "latent_cache", "text_model", "init"}) {
      if (output.hasNonNull(stage)) {
        result.set(stage, output.get(stage));
      }
    }
    ObjectNode files = result.putObject("outputs");
    files.put("samples.png", Hashing.sha256(png));
    files.put("latents.arrow", Hashing.sha256(arrow));
    dir.write(RunDirectory.RESULT, json(result));
    return result;
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

  static byte[] json(Object value) {
    try {
      return JSON.writeValueAsBytes(value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static JsonNode readJson(String text) {
    try {
      return JSON.readTree(text);
    } catch (IOException e) {
      throw new IllegalStateException("Python returned malformed JSON: " + text, e);
    }
  }

  static JsonNode readJson(java.nio.file.Path file) {
    try {
      return JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> toMap(JsonNode node) {
    return JSON.convertValue(node, Map.class);
  }
}
