package io.latentlab.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.latentlab.testing.TestProject;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Arrow's one JVM flag: named once, and named to the user who forgot it. */
class AddOpensTest {
  @Test
  void addOpens_isTheBuildsFlag() {
    assertEquals("--add-opens=" + System.getProperty("latentlab.addOpens") + "=ALL-UNNAMED",
        Allocators.ADD_OPENS, "pom.xml's jvm.add.opens and Allocators.ADD_OPENS must agree");
  }

  @Test
  void aligned_inAJvmWithoutTheFlag_saysWhichFlagInOneLine() throws Exception {
    Path target = TestProject.home().resolve("target");
    String classPath;
    try (Stream<Path> jars = Files.list(target.resolve("lib"))) {
      classPath = Stream.concat(Stream.of(target.resolve("test-classes"), target.resolve("classes")),
          jars.sorted()).map(Path::toString).collect(Collectors.joining(File.pathSeparator));
    }
    Process probe = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", classPath, AllocatorProbe.class.getName()).redirectErrorStream(true).start();
    String output = new String(probe.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    probe.waitFor(60, TimeUnit.SECONDS);
    assertEquals("Arrow needs the JVM flag " + Allocators.ADD_OPENS + " (java: add it before -cp; jshell: -R"
        + Allocators.ADD_OPENS + "; a notebook kernel: its JVM options); ./latentlab sets it for you", output);
  }
}
