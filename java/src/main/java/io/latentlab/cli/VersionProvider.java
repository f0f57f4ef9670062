package io.latentlab.cli;

import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine;

/** {@code --version}: LatentLab's and its Java-side dependencies' versions. */
final class VersionProvider implements CommandLine.IVersionProvider {
  @Override
  public String[] getVersion() throws Exception {
    Properties build = new Properties();
    try (InputStream in = VersionProvider.class.getResourceAsStream("/io/latentlab/build.properties")) {
      build.load(in);
    }
    return new String[] {
        "LatentLab " + build.getProperty("version"),
        "Jep " + build.getProperty("jep.version") + ", Arrow " + build.getProperty("arrow.version")
            + ", Java " + System.getProperty("java.version")
    };
  }
}
