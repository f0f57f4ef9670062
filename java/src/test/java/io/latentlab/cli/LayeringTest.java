package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.latentlab.testing.TestProject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The layers of DESIGN.md: {@code cli} and {@code shell} are side by side over {@code lab},
 * neither imports the other, and {@code lab} knows neither skin nor their libraries (picocli,
 * JShell). Reads every main source file; an import and a fully qualified name count alike.
 */
class LayeringTest {
  /** What each package must not name. */
  private static final Map<String, List<String>> FORBIDDEN = Map.of(
      "cli", List.of("io.latentlab.shell"),
      "shell", List.of("io.latentlab.cli"),
      "lab", List.of("picocli", "jdk.jshell", "io.latentlab.cli", "io.latentlab.shell"));

  @Test
  void cliAndShellAreSideBySideOverLab() throws IOException {
    Path sources = TestProject.home().resolve("java/src/main/java/io/latentlab");
    List<String> violations = new ArrayList<>();
    for (Map.Entry<String, List<String>> layer : FORBIDDEN.entrySet()) {
      try (Stream<Path> files = Files.walk(sources.resolve(layer.getKey()))) {
        for (Path file : files.filter(f -> f.toString().endsWith(".java")).sorted().toList()) {
          List<String> lines = Files.readAllLines(file);
          for (int i = 0; i < lines.size(); i++) {
            for (String name : layer.getValue()) {
              // a package reference: the name, then a dot or the import's semicolon (prose may name it)
              if (lines.get(i).matches(".*\\b" + name.replace(".", "\\.") + "[.;].*")) {
                violations.add(sources.relativize(file) + ":" + (i + 1) + " names " + name + ": " + lines.get(i).strip());
              }
            }
          }
        }
      }
    }
    assertEquals(List.of(), violations, "a layer reaches past lab/ (see DESIGN.md, Layout)");
  }
}
