package io.latentlab.sweep;

import io.latentlab.config.ConfigException;
import io.latentlab.config.ConfigLoader;
import java.nio.file.Path;

/** Positions in a sweep file, for messages that point at a key. */
final class SweepFiles {
  private SweepFiles() {}

  /** {@code file:line:column} where a key path was written, or the file's name. */
  static String position(Path file, String keyPath) {
    try {
      return new ConfigLoader().readMapping(file).where(keyPath, file);
    } catch (ConfigException e) {
      return file.toString();
    }
  }
}
