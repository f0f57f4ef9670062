package io.latentlab.run;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where a config's data set is and what it holds, as Python (which opens it) reports it. A
 * run's {@code provenance.json} records it as {@code data_source} (all but {@code files}, which
 * it keeps as {@code data}).
 *
 * @param location the file, folder or pattern the data is read from
 * @param files content hashes (SHA-256, hex) of the bundled data sets' files, by path relative
 *     to the project; empty for data read from a path of the user's
 * @param examples how many examples the data set holds (after skipping bad files, before the
 *     held-out split)
 * @param fingerprint changes when a file is added, removed or changed (hex), or null where the
 *     Python side predates it
 * @param classes the class names, label i being {@code classes[i]}; empty for unlabelled data
 * @param counts examples per class, in the order of {@code classes}
 * @param shape {@code [H, W, C]} of every preprocessed image, or empty where not reported
 * @param skipped files or rows {@code data.on_error: skip} left out
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record DataSource(
    @com.fasterxml.jackson.databind.annotation.JsonSerialize(using = com.fasterxml.jackson.databind.ser.std.ToStringSerializer.class)
    Path location, @JsonIgnore Map<String, String> files, long examples,
    String fingerprint, List<String> classes, List<Long> counts, List<Integer> shape,
    long skipped) {
  /** Copies the collections. */
  public DataSource {
    files = Collections.unmodifiableMap(new TreeMap<>(files));
    classes = List.copyOf(classes);
    counts = List.copyOf(counts);
    shape = List.copyOf(shape);
    if (counts.size() != classes.size() && !counts.isEmpty()) {
      throw new IllegalArgumentException("counts " + counts + " do not match classes " + classes);
    }
  }

  /** The digits as an older Python reported them: location, files, examples. */
  public DataSource(Path location, Map<String, String> files, long examples) {
    this(location, files, examples, null, List.of(), List.of(), List.of(), 0);
  }

  /** Class name → examples, in class order. */
  public Map<String, Long> countsByClass() {
    Map<String, Long> out = new java.util.LinkedHashMap<>();
    for (int i = 0; i < counts.size(); i++) {
      out.put(classes.get(i), counts.get(i));
    }
    return Collections.unmodifiableMap(out);
  }
}
