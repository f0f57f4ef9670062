package io.latentlab.bridge;

import io.latentlab.testing.TestProject;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The Jep jar (pom.xml) and the Jep that pip builds (environment.yml) must be one version. */
class PinnedVersionsTest {
  private static final Path HOME = TestProject.home();

  /** The first group of {@code regex} in {@code file} (PythonBridgeTest reads pins with it too). */
  static String find(Path file, String regex) throws IOException {
    Matcher m = Pattern.compile(regex).matcher(Files.readString(file));
    if (!m.find()) {
      throw new AssertionError(file + " has no match for " + regex);
    }
    return m.group(1);
  }

  @Test
  void jepPins_pomAndEnvironmentAgree() throws IOException {
    String pom = find(HOME.resolve("pom.xml"), "<jep\\.version>([^<]+)</jep\\.version>");
    String environment = find(HOME.resolve("environment.yml"), "(?m)^\\s*- jep==(\\S+)");
    assertEquals(pom, environment, "pom.xml jep.version vs environment.yml jep pin");
  }

  @Test
  void jepJarOnClasspath_isThePinnedVersion() throws IOException {
    String pom = find(HOME.resolve("pom.xml"), "<jep\\.version>([^<]+)</jep\\.version>");
    assertEquals(pom, PythonEnvironment.jarVersion());
  }
}
