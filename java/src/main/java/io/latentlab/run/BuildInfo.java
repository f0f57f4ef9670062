package io.latentlab.run;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** Versions Maven recorded at build time ({@code io/latentlab/build.properties}). */
public final class BuildInfo {
  private static final Properties PROPERTIES = load();

  private BuildInfo() {}

  /** A recorded value ({@code version}, {@code jep.version}, {@code arrow.version}), or "unknown". */
  public static String get(String key) {
    return PROPERTIES.getProperty(key, "unknown");
  }

  private static Properties load() {
    Properties properties = new Properties();
    try (InputStream in = BuildInfo.class.getResourceAsStream("/io/latentlab/build.properties")) {
      if (in != null) {
        properties.load(in);
      }
    } catch (IOException e) {
      // versions then read "unknown"; provenance still records everything else
    }
    return properties;
  }
}
