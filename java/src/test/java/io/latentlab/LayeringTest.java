package io.latentlab;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.latentlab.testing.TestProject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The package graph of docs/architecture.md: skins (cli, shell) side by side over the library
 * layer (lab) and the sweep and store packages, over run, over bridge, tensor and config. Each
 * package names what it may use; any other reference to a LatentLab package (an import or a
 * fully qualified name in code, not in comments) fails, and so does a skin's library (picocli,
 * JShell) named below the skins.
 */
class LayeringTest {
  private static final Pattern REFERENCE = Pattern.compile("\\bio\\.latentlab((?:\\.[a-z]+)+)\\.[A-Z*]");
  private static final Pattern SKIN_LIBRARY = Pattern.compile("\\b(picocli|jdk\\.jshell)[.;]");

  /** Package (relative to io.latentlab) → the packages it may reference. */
  private static final Map<String, Set<String>> ALLOWED = Map.ofEntries(
      Map.entry("bridge", Set.of()),
      Map.entry("tensor", Set.of()),
      Map.entry("config", Set.of()),
      Map.entry("slurm", Set.of()),
      Map.entry("run", Set.of("bridge", "tensor", "config", "slurm")),
      Map.entry("lab", Set.of("bridge", "tensor", "config", "run")),
      Map.entry("store", Set.of("run", "sweep")),
      Map.entry("sweep", Set.of("bridge", "config", "run", "lab")),
      Map.entry("sweep.report", Set.of("config", "sweep")),
      Map.entry("sweep.execute", Set.of("bridge", "tensor", "config", "run", "lab", "sweep",
          "sweep.report")),
      Map.entry("sweep.slurm", Set.of("run", "slurm", "sweep", "sweep.execute")),
      Map.entry("cli", Set.of("bridge", "tensor", "config", "run", "lab", "store", "sweep",
          "sweep.execute", "sweep.slurm", "slurm")),
      Map.entry("shell", Set.of("bridge", "tensor", "config", "run", "lab", "store", "sweep",
          "sweep.execute")));
  /** Where picocli and JShell may appear. */
  private static final Set<String> SKINS = Set.of("cli", "shell");

  @Test
  void everyPackage_referencesOnlyTheLayersBelowIt() throws IOException {
    Path sources = TestProject.home().resolve("java/src/main/java/io/latentlab");
    List<String> violations = new ArrayList<>();
    Set<String> packages = new TreeSet<>();
    try (Stream<Path> files = Files.walk(sources)) {
      for (Path file : files.filter(f -> f.toString().endsWith(".java")).sorted().toList()) {
        String pkg = sources.relativize(file.getParent()).toString().replace('/', '.');
        packages.add(pkg);
        Set<String> allowed = ALLOWED.getOrDefault(pkg, Set.of());
        List<String> lines = Files.readAllLines(file);
        for (int i = 0; i < lines.size(); i++) {
          String line = lines.get(i).strip();
          if (line.startsWith("*") || line.startsWith("//") || line.startsWith("/*")) {
            continue; // prose may name any package
          }
          Matcher reference = REFERENCE.matcher(line);
          while (reference.find()) {
            String used = reference.group(1).substring(1);
            if (!used.equals(pkg) && !allowed.contains(used)) {
              violations.add(sources.relativize(file) + ":" + (i + 1) + " (" + pkg + ") uses " + used);
            }
          }
          if (!SKINS.contains(pkg) && SKIN_LIBRARY.matcher(line).find()) {
            violations.add(sources.relativize(file) + ":" + (i + 1) + " (" + pkg + ") uses a skin's library: " + line);
          }
        }
      }
    }
    assertEquals(new TreeSet<>(ALLOWED.keySet()), packages, "every package has its row in ALLOWED");
    assertEquals(List.of(), violations, "a package reaches past its layer (docs/architecture.md)");
  }
}
