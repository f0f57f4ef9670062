package io.latentlab.lab;

import com.fasterxml.jackson.databind.JsonNode;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Imports Stable Diffusion weights from local files into the project's {@code models/} folder:
 * a diffusers folder, a single-file LDM {@code .safetensors} checkpoint (with a diffusers folder
 * for its configs) or one component. Python maps every tensor to the Flax parameters and writes
 * {@code models/<name>/}: Orbax weights, {@code sd_model.json} (configs, diffusion settings,
 * content hash, source, licence) and the tokenizer. An import is never overwritten: the same
 * weights under the same name are reported as already there; other weights are refused.
 */
public final class ImportTask {
  /** The task's name. */
  public static final String KIND = "import";
  /** Where imported models go, inside the project. */
  public static final Path MODELS = Path.of("models");

  /**
   * What to import.
   *
   * @param source the folder or {@code .safetensors} file, anywhere readable
   * @param name the model's name (its folder under {@code models/}), or null for the source's
   *     file name without extension
   * @param config for a single file: the diffusers folder whose configs describe it, or null
   */
  public record Request(Path source, String name, Path config) {
    public Request {
      Objects.requireNonNull(source, "source");
    }

    /** The name the model gets. */
    public String modelName() {
      if (name != null) {
        return name;
      }
      String file = source.toAbsolutePath().normalize().getFileName().toString();
      return file.endsWith(".safetensors") ? file.substring(0, file.length() - 12) : file;
    }
  }

  /**
   * The imported model.
   *
   * @param name its name
   * @param folder where it is ({@code models/<name>})
   * @param weightsSha256 the content hash of its weights
   * @param alreadyImported true if the same weights were there under this name already
   * @param json Python's summary (components and parameter counts, diffusion settings, licence)
   */
  public record Result(String name, Path folder, String weightsSha256, boolean alreadyImported,
      JsonNode json) {
    /** The summary as {@code ./latentlab import} prints it. */
    public String text() {
      StringBuilder out = new StringBuilder();
      out.append(String.format(Locale.ROOT, "model:       %s%s%n", name,
          alreadyImported ? " (already imported; nothing written)" : ""));
      out.append(String.format(Locale.ROOT, "folder:      %s%n", folder));
      out.append(String.format(Locale.ROOT, "weights:     sha256 %s%n", weightsSha256));
      out.append(String.format(Locale.ROOT, "from:        %s (%s)%n", json.path("source").asText(),
          json.path("source_kind").asText()));
      for (Map.Entry<String, JsonNode> c : json.path("components").properties()) {
        out.append(String.format(Locale.ROOT, "  %-14s %-28s %,d parameters%n", c.getKey(),
            c.getValue().path("class").asText(), c.getValue().path("parameters").asLong()));
      }
      if (json.has("diffusion")) {
        out.append("diffusion:   ").append(json.get("diffusion")).append(System.lineSeparator());
      }
      if (json.hasNonNull("licence")) {
        out.append("licence:     carried (sd_model.json)").append(System.lineSeparator());
      }
      return out.toString();
    }
  }

  private final Path home;

  /** @param home the project root; models go to its {@code models/} folder */
  public ImportTask(Path home) {
    this.home = home.toAbsolutePath().normalize();
  }

  /**
   * Imports the model.
   *
   * @param progress unused (the import reports no steps); give {@link ProgressListener#NONE}
   * @throws UsageException in one line naming the file or key, for anything refused: not a
   *     model, a pickle checkpoint, missing or unexpected tensors, a name already taken (exit 2)
   * @throws PythonException if Python failed otherwise
   */
  public Result run(Request request, ProgressListener progress) {
    String name = request.modelName();
    String options = request.config() == null ? "{}" : ResultJson.MAPPER.createObjectNode()
        .put("config", request.config().toAbsolutePath().normalize().toString()).toString();
    JsonNode reply;
    try {
      reply = ResultJson.MAPPER.readTree(PythonBridge.start(home).callForString("import_model",
          request.source().toAbsolutePath().normalize().toString(),
          home.resolve(MODELS).toString(), name, options));
    } catch (PythonException e) {
      if ("ValueError".equals(e.pythonType())) {
        throw new UsageException(e.pythonMessage());
      }
      throw e;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException("import_model returned no JSON", e);
    }
    return new Result(name, Path.of(reply.path("path").asText()),
        reply.path("weights_sha256").asText(), reply.path("already_imported").asBoolean(), reply);
  }
}
