package io.latentlab.run;

import java.nio.file.Path;
import java.util.Map;

/**
 * Where a config's data set is and what it holds, as Python (which loads it) reports it.
 *
 * @param location the file or folder the data is read from
 * @param files content hashes (SHA-256, hex) of the files read, by path relative to the project
 * @param examples how many examples the data set holds
 */
public record DataSource(Path location, Map<String, String> files, long examples) {
  /** Copies {@code files}. */
  public DataSource {
    files = java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(files));
  }
}
