package io.latentlab.run;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Results of applying a completed run's model (denoising, anomaly detection), kept in the run's
 * directory as {@code <run>/<kind>/<settings id>.json} beside its pictures
 * ({@code <settings id>.png}, {@code <settings id>-roc.png}).
 *
 * <p>The settings id is the first 12 hex digits of the SHA-256 of the settings' canonical JSON,
 * the weights' digest and the digest of any input file, so the same settings on the same model
 * and input name the same files. The JSON is written last and marks the result complete; a
 * completed result is never overwritten (asking again reads it), and a killed one is redone.
 * Every file is written atomically. Stateless; thread-safe.
 */
public final class ModelResults {
  private ModelResults() {}

  /**
   * The settings id of a result.
   *
   * @param kind the application ({@code denoise}, {@code anomaly}), also its folder's name
   * @param canonicalSettings the resolved settings as canonical JSON (sorted keys)
   * @param run the run directory, whose {@code checkpoint/checkpoint.json} names its weights
   * @param input a file the result reads (images to denoise), or null
   */
  public static String settingsId(String kind, String canonicalSettings, Path run, Path input) {
    String weights;
    try {
      weights = Hashing.sha256(Files.readAllBytes(
          run.resolve(RunDirectory.CHECKPOINT).resolve(RunDirectory.CHECKPOINT_MANIFEST)));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + run + "'s checkpoint", e);
    }
    return settingsId(kind, canonicalSettings, weights, input == null ? "" : Hashing.sha256(input));
  }

  /**
   * The settings id of a model known by its weights' hash (an imported model, not a run): the
   * first 12 hex digits of the SHA-256 of the kind, the canonical settings and that hash.
   */
  public static String settingsId(String kind, String canonicalSettings, String weightsSha256) {
    return settingsId(kind, canonicalSettings, weightsSha256, "");
  }

  private static String settingsId(String kind, String canonicalSettings, String weights,
      String input) {
    String identity = kind + "\n" + canonicalSettings + "\n" + weights + "\n" + input;
    return Hashing.sha256(identity.getBytes(StandardCharsets.UTF_8)).substring(0, 12);
  }

  /** {@code <run>/<kind>/<id>.json}: the result, written last. */
  public static Path resultFile(Path run, String kind, String id) {
    return run.resolve(kind).resolve(id + ".json");
  }

  /** True if the result is complete (its JSON exists). */
  public static boolean completed(Path run, String kind, String id) {
    return Files.isRegularFile(resultFile(run, kind, id));
  }

  /**
   * Writes a result: each picture ({@code <id><suffix>} → PNG bytes), then the JSON.
   *
   * @throws IllegalStateException if the result is already complete (it is never overwritten)
   */
  public static Path write(Path run, String kind, String id, Map<String, byte[]> pictures, byte[] json) {
    Path folder = run.resolve(kind);
    if (completed(run, kind, id)) {
      throw new IllegalStateException(resultFile(run, kind, id) + " is complete; it is never overwritten");
    }
    try {
      Files.createDirectories(folder);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + folder, e);
    }
    for (Map.Entry<String, byte[]> picture : pictures.entrySet()) {
      byte[] bytes = picture.getValue();
      RunDirectory.writeAtomically(folder.resolve(id + picture.getKey()), out -> out.write(bytes));
    }
    Path result = resultFile(run, kind, id);
    RunDirectory.writeAtomically(result, out -> out.write(json));
    return result;
  }
}
