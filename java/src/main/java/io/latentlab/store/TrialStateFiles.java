package io.latentlab.store;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.sweep.SweepDirectory;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Finds the sweeps' trial state files, {@code <root>/sweeps/<sweep>/trials/<trial>.json}, checks
 * them in Java before DuckDB reads them (one malformed file would fail the whole query), and
 * gathers the axis and metric columns they hold with one SQL type each, so that the
 * {@code sweeps} view can have a column per axis and per metric.
 *
 * <p>Checks are cached by file identity, size and modification time, as in {@link RunFiles}.
 * Not thread-safe: one per store.
 */
final class TrialStateFiles {
  /** The runs root's folder of sweep directories. */
  static final String SWEEPS = SweepDirectory.SWEEPS;
  /** A sweep directory's folder of trial states. */
  static final String TRIALS = SweepDirectory.TRIALS;

  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  /** The SQL type a column's values share; a column whose values disagree is text. */
  enum ColumnType {
    BIGINT, DOUBLE, BOOLEAN, VARCHAR;

    /** The type that holds values of both. */
    ColumnType merge(ColumnType other) {
      if (this == other) {
        return this;
      }
      boolean numbers = (this == BIGINT || this == DOUBLE) && (other == BIGINT || other == DOUBLE);
      return numbers ? DOUBLE : VARCHAR;
    }

    /** The type of one JSON value, or null for JSON null (which fits any column). */
    static ColumnType of(JsonNode value) {
      if (value.isNull()) {
        return null;
      }
      if (value.isIntegralNumber()) {
        return value.canConvertToLong() ? BIGINT : DOUBLE;
      }
      if (value.isNumber()) {
        return DOUBLE;
      }
      return value.isBoolean() ? BOOLEAN : VARCHAR;
    }
  }

  /**
   * What the sound state files hold.
   *
   * @param files the sound state files, in path order
   * @param axes axis column → type, in the order first seen
   * @param metrics metric name → type, in the order first seen
   */
  record Scan(List<Path> files, Map<String, ColumnType> axes, Map<String, ColumnType> metrics) {}

  /** A file's check: null columns mean it is not a sound state file. */
  private record Check(Object fileKey, long size, FileTime modified,
      Map<String, ColumnType> axes, Map<String, ColumnType> metrics) {
    boolean sound() {
      return axes != null;
    }
  }

  private final Path root;
  private final Map<Path, Check> checked = new HashMap<>();

  TrialStateFiles(Path root) {
    this.root = root;
  }

  /** Every sound trial state file under the root, and their columns. */
  Scan scan() {
    List<Path> files = new ArrayList<>();
    Map<String, ColumnType> axes = new LinkedHashMap<>();
    Map<String, ColumnType> metrics = new LinkedHashMap<>();
    Map<Path, Check> seen = new HashMap<>();
    for (Path sweep : entries(root.resolve(SWEEPS), true)) {
      for (Path file : entries(sweep.resolve(TRIALS), false)) {
        Check check = check(file);
        if (check == null) {
          continue;
        }
        seen.put(file, check);
        if (check.sound()) {
          files.add(file);
          gather(check.axes(), axes);
          gather(check.metrics(), metrics);
        }
      }
    }
    checked.keySet().retainAll(seen.keySet());
    checked.putAll(seen);
    return new Scan(files, axes, metrics);
  }

  /** Adds one file's columns; a column seen only with null values stays untyped (text). */
  private static void gather(Map<String, ColumnType> columns, Map<String, ColumnType> into) {
    columns.forEach((name, type) -> {
      if (type == null) {
        into.putIfAbsent(name, null);
      } else {
        into.merge(name, type, ColumnType::merge);
      }
    });
  }

  /** Checks one file, from the cache if it has not changed; null if it is gone. */
  private Check check(Path file) {
    BasicFileAttributes attributes;
    try {
      attributes = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (IOException gone) {
      return null;
    }
    Check cached = checked.get(file);
    if (cached != null && Objects.equals(cached.fileKey(), attributes.fileKey())
        && cached.size() == attributes.size() && cached.modified().equals(attributes.lastModifiedTime())) {
      return cached;
    }
    Map<String, ColumnType> axes = null;
    Map<String, ColumnType> metrics = null;
    try {
      JsonNode state = JSON.readTree(Files.readAllBytes(file));
      if (state != null && state.isObject()) {
        axes = columns(state.get("axes"));
        metrics = columns(state.get("metrics"));
        if (axes == null || metrics == null) {
          axes = metrics = null;
        }
      }
    } catch (IOException unreadableOrMalformed) {
      // left out, like a damaged run file: every other state still reads
    }
    return new Check(attributes.fileKey(), attributes.size(), attributes.lastModifiedTime(), axes, metrics);
  }

  /** An object's members' types; empty for an absent or null member, null if not an object. */
  private static Map<String, ColumnType> columns(JsonNode object) {
    if (object == null || object.isNull()) {
      return Map.of();
    }
    if (!object.isObject()) {
      return null;
    }
    Map<String, ColumnType> columns = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> member : object.properties()) {
      columns.put(member.getKey(), ColumnType.of(member.getValue())); // null: untyped so far
    }
    return columns;
  }

  /**
   * Sweep folders or JSON files of a folder, sorted; hidden names (temporary files of atomic
   * writes) and symbolic links (which could lead out of the runs root) are skipped.
   */
  private static List<Path> entries(Path folder, boolean folders) {
    List<Path> found = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(folder)) {
      for (Path entry : entries) {
        String name = entry.getFileName().toString();
        boolean wanted = folders
            ? Files.isDirectory(entry, LinkOption.NOFOLLOW_LINKS)
            : name.endsWith(".json") && Files.isRegularFile(entry, LinkOption.NOFOLLOW_LINKS);
        if (!name.startsWith(".") && wanted) {
          found.add(entry);
        }
      }
    } catch (IOException absent) {
      return List.of();
    }
    found.sort(Comparator.naturalOrder());
    return found;
  }
}
