package io.latentlab.cli;

import io.latentlab.run.BuildInfo;
import picocli.CommandLine;

/** {@code --version}: LatentLab's and its Java-side dependencies' versions. */
final class VersionProvider implements CommandLine.IVersionProvider {
  @Override
  public String[] getVersion() {
    return new String[] {
        "LatentLab " + BuildInfo.get("version"),
        "Jep " + BuildInfo.get("jep.version") + ", Arrow " + BuildInfo.get("arrow.version")
            + ", Java " + System.getProperty("java.version")
    };
  }
}
