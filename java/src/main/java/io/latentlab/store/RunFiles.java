package io.latentlab.store;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.run.MlflowTracking;
import io.latentlab.run.RunDirectory;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Finds the run folders under a runs root and checks their JSON files in Java before DuckDB
 * reads them: DuckDB fails a whole query on one malformed file, so only sound files are handed
 * to it, and a folder with a damaged file is reported with that file named.
 *
 * <p>Checks are cached by file identity, size and modification time, so a store polled while runs
 * are written re-reads only what changed. Not thread-safe: one per store.
 */
final class RunFiles {
  static final String PROVENANCE = io.latentlab.run.RunDirectory.PROVENANCE;
  /** Suffix {@code run --rerun} gives the folder of the run it replaces. */
  static final String REPLACED = ".replaced-";

  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  /**
   * One run folder, {@code <root>/<experiment>/<name>}.
   *
   * @param experiment the experiment folder's name
   * @param trial the trial id the folder is named by (without a {@code .replaced-} suffix)
   * @param path the folder
   * @param replaced true for an earlier run that {@code run --rerun} kept aside
   * @param provenance its provenance.json, or null if missing or damaged
   * @param result its result.json, or null if missing (not finished) or damaged
   * @param metrics its metrics.jsonl, or null if missing or damaged
   * @param problem what is damaged, naming the file, or null if nothing is
   * @param mlflowRunId the run's MLflow run id ({@code mlflow.json}), or null if it has none
   */
  record Folder(String experiment, String trial, Path path, boolean replaced, Path provenance,
      Path result, Path metrics, String problem, String mlflowRunId) {}

  private record Check(Object fileKey, long size, FileTime modified, String problem) {}

  private final Path root;
  private final Map<Path, Check> checked = new HashMap<>();

  RunFiles(Path root) {
    this.root = root;
  }

  /** Every run folder under the root, in path order. */
  List<Folder> scan() {
    List<Folder> folders = new ArrayList<>();
    Map<Path, Check> seen = new HashMap<>();
    for (Path experiment : subfolders(root)) {
      for (Path folder : subfolders(experiment)) {
        Folder found = inspect(experiment.getFileName().toString(), folder, seen);
        if (found != null) {
          folders.add(found);
        }
      }
    }
    checked.keySet().retainAll(seen.keySet()); // forget files that are gone
    checked.putAll(seen);
    return folders;
  }

  private Folder inspect(String experiment, Path folder, Map<Path, Check> seen) {
    Path provenance = folder.resolve(PROVENANCE);
    Path result = folder.resolve(RunDirectory.RESULT);
    Path metrics = folder.resolve(RunDirectory.METRICS);
    List<String> problems = new ArrayList<>();
    String provenanceProblem = check(provenance, seen, false);
    String resultProblem = check(result, seen, false);
    String metricsProblem = check(metrics, seen, true);
    boolean hasProvenance = seen.containsKey(provenance);
    if (!hasProvenance && !seen.containsKey(result)) {
      return null; // being created, or not a run folder at all
    }
    if (!hasProvenance) {
      problems.add(PROVENANCE + " is missing");
    }
    for (String problem : new String[] {provenanceProblem, resultProblem, metricsProblem}) {
      if (problem != null) {
        problems.add(problem);
      }
    }
    String name = folder.getFileName().toString();
    int dot = name.indexOf('.');
    return new Folder(experiment, dot < 0 ? name : name.substring(0, dot), folder,
        name.contains(REPLACED),
        hasProvenance && provenanceProblem == null ? provenance : null,
        seen.containsKey(result) && resultProblem == null ? result : null,
        seen.containsKey(metrics) && metricsProblem == null ? metrics : null,
        problems.isEmpty() ? null : String.join("; ", problems), MlflowTracking.runId(folder));
  }

  /**
   * Checks one file, from the cache if it has not changed; records it in {@code seen} if it
   * exists.
   *
   * @return what is wrong with it, or null if it is sound or absent
   */
  private String check(Path file, Map<Path, Check> seen, boolean lines) {
    BasicFileAttributes attributes;
    try {
      attributes = Files.readAttributes(file, BasicFileAttributes.class);
    } catch (IOException absent) {
      return null;
    }
    Check cached = checked.get(file);
    if (cached != null && Objects.equals(cached.fileKey(), attributes.fileKey())
        && cached.size() == attributes.size() && cached.modified().equals(attributes.lastModifiedTime())) {
      seen.put(file, cached);
      return cached.problem();
    }
    String problem;
    try {
      byte[] content = Files.readAllBytes(file);
      problem = lines ? checkLines(file, content) : checkObject(file.getFileName().toString(), content, 0, content.length);
    } catch (NoSuchFileException gone) {
      return null; // moved away since (run --rerun): it is no longer this folder's
    } catch (IOException e) {
      problem = "cannot read " + file.getFileName() + ": " + e.getMessage();
    }
    seen.put(file, new Check(attributes.fileKey(), attributes.size(), attributes.lastModifiedTime(), problem));
    return problem;
  }

  /**
   * A JSON Lines file is sound if every complete line is a JSON object. The text after the last
   * newline is not judged: it is a line still being appended, or the one line a killed run may
   * lose (RunDirectory's contract), and the store's reader skips it.
   */
  private static String checkLines(Path file, byte[] content) {
    int start = 0;
    int line = 1;
    for (int i = 0; i < content.length; i++) {
      if (content[i] == '\n') {
        if (!blank(content, start, i)) {
          String problem = checkObject(file.getFileName() + " line " + line, content, start, i - start);
          if (problem != null) {
            return problem;
          }
        }
        start = i + 1;
        line++;
      }
    }
    return null;
  }

  private static String checkObject(String what, byte[] content, int offset, int length) {
    try {
      JsonNode node = JSON.readTree(content, offset, length);
      return node != null && node.isObject() ? null : what + " is not a JSON object";
    } catch (JsonProcessingException e) {
      JsonLocation at = e.getLocation();
      return what + " is not valid JSON" + (at == null ? "" : " (at line " + at.getLineNr() + ", column "
          + at.getColumnNr() + ")");
    } catch (IOException e) {
      return what + " cannot be read: " + e.getMessage();
    }
  }

  private static boolean blank(byte[] content, int from, int to) {
    for (int i = from; i < to; i++) {
      if (!Character.isWhitespace(content[i])) {
        return false;
      }
    }
    return true;
  }

  /** Visible subfolders, sorted; staging folders ({@code .<id>.staging-*}) are hidden. */
  private static List<Path> subfolders(Path folder) {
    List<Path> found = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(folder)) {
      for (Path entry : entries) {
        if (!entry.getFileName().toString().startsWith(".") && Files.isDirectory(entry)) {
          found.add(entry);
        }
      }
    } catch (IOException absentOrMoved) {
      return List.of(); // a root not created yet, or a folder a rerun just moved
    }
    found.sort(Comparator.naturalOrder());
    return found;
  }
}
