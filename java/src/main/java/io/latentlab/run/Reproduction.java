package io.latentlab.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Runs a completed run again from what it recorded (its resolved config.yaml) and compares the
 * two: config, trial id, code and library versions, metrics, and the hashes of the outputs.
 * The new run goes to {@code <runs>/.reproductions/<time>/}, out of the way of the store's
 * listings and of the original.
 *
 * @param original the run reproduced
 * @param reproduction the new run's directory
 * @param differences one line per difference (empty when everything recorded matches)
 * @param outputsIdentical whether samples.png and latents.arrow are byte for byte the same
 */
public record Reproduction(Path original, Path reproduction, List<String> differences,
    boolean outputsIdentical) {

  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * Reproduces a run.
   *
   * @param home the project root
   * @param run a completed run directory
   * @throws IllegalArgumentException if the run did not complete
   */
  public static Reproduction of(Path home, PythonBridge bridge, Path run, ProgressListener progress) {
    Path original = run.toAbsolutePath().normalize();
    if (!RunDirectory.isCompleted(original)) {
      throw new IllegalArgumentException(original + " did not complete (no result.json); nothing to reproduce");
    }
    Path runsRoot = original.getParent().getParent();
    Path scratch = runsRoot.resolve(".reproductions").resolve(DateTimeFormatter
        .ofPattern("yyyyMMdd'T'HHmmssSSS'Z'").withZone(ZoneOffset.UTC).format(Instant.now()));
    ConfigLoader loader = new ConfigLoader();
    JsonNode oldProvenance = read(original.resolve(RunDirectory.PROVENANCE));
    ExperimentConfig recorded = loader.load(original.resolve(RunDirectory.CONFIG));
    Trial trial = new TrialPlanner(scratch, bridge).plan(original.resolve(RunDirectory.CONFIG), recorded,
        oldProvenance.path("replicate").asInt(0));
    RunResult again = TrialExecutor.inProcess(home, bridge).execute(trial, progress, false);

    List<String> differences = new ArrayList<>();
    JsonNode newProvenance = read(again.directory().resolve(RunDirectory.PROVENANCE));
    JsonNode oldResult = read(original.resolve(RunDirectory.RESULT));
    JsonNode newResult = JSON.valueToTree(again.result());
    compare("trial id", oldProvenance.get("trial_id"), newProvenance.get("trial_id"), differences);
    compare("config", flatten(JSON.valueToTree(recorded)),
        flatten(JSON.valueToTree(trial.config())), differences);
    compare("git", oldProvenance.get("git"), newProvenance.get("git"), differences);
    compare("java", oldProvenance.get("java"), newProvenance.get("java"), differences);
    compare("python", oldProvenance.get("python"), newProvenance.get("python"), differences);
    compare("data", oldProvenance.get("data"), newProvenance.get("data"), differences);
    if (oldProvenance.hasNonNull("data_source")) { // recorded since own data sets: did the data change?
      compare("data_source", withoutLocation(oldProvenance.get("data_source")),
          withoutLocation(newProvenance.get("data_source")), differences);
    }
    compare("metrics", withoutTimings(oldResult.get("metrics")), withoutTimings(newResult.get("metrics")), differences);
    int before = differences.size();
    compare("outputs", oldResult.get("outputs"), newResult.get("outputs"), differences);
    return new Reproduction(original, again.directory(), List.copyOf(differences), differences.size() == before);
  }

  private static JsonNode read(Path file) {
    try {
      return JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  private static JsonNode withoutTimings(JsonNode metrics) {
    var copy = metrics.deepCopy();
    if (copy instanceof com.fasterxml.jackson.databind.node.ObjectNode object) {
      List<String> timings = new ArrayList<>();
      object.fieldNames().forEachRemaining(name -> {
        if (name.endsWith("_seconds") || name.endsWith("_resumed_from_step")) {
          timings.add(name);
        }
      });
      object.remove(timings);
    }
    return copy;
  }

  /** The data's description without where it was read (a copy elsewhere is the same data). */
  private static JsonNode withoutLocation(JsonNode dataSource) {
    if (dataSource == null || !dataSource.isObject()) {
      return dataSource;
    }
    com.fasterxml.jackson.databind.node.ObjectNode copy = dataSource.deepCopy();
    copy.remove("location");
    return copy;
  }

  private static void compare(String section, JsonNode before, JsonNode after, List<String> out) {
    compare(section, flatten(before), flatten(after), out);
  }

  private static void compare(String section, Map<String, String> before, Map<String, String> after,
      List<String> out) {
    TreeSet<String> keys = new TreeSet<>(before.keySet());
    keys.addAll(after.keySet());
    for (String key : keys) {
      String a = before.get(key);
      String b = after.get(key);
      if (a == null ? b != null : !a.equals(b)) {
        out.add(String.format("%s%s: %s → %s", section, key.isEmpty() ? "" : "." + key,
            a == null ? "(absent)" : a, b == null ? "(absent)" : b));
      }
    }
  }

  private static Map<String, String> flatten(JsonNode node) {
    Map<String, String> out = new TreeMap<>();
    flatten("", node, out);
    return out;
  }

  private static void flatten(String prefix, JsonNode node, Map<String, String> out) {
    if (node == null || node.isNull()) {
      return;
    }
    if (node.isObject()) {
      Iterator<Map.Entry<String, JsonNode>> fields = node.fields();
      while (fields.hasNext()) {
        Map.Entry<String, JsonNode> field = fields.next();
        flatten(prefix.isEmpty() ? field.getKey() : prefix + "." + field.getKey(), field.getValue(), out);
      }
    } else {
      out.put(prefix, node.isTextual() ? node.asText() : node.toString());
    }
  }
}
