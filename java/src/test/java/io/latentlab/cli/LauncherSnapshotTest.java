package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.testing.TestProject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The launcher runs the CLI from a snapshot of the build ({@code .cache/java/<jar hash>/}), so a
 * rebuild while a long run goes on cannot replace classes under it.
 */
class LauncherSnapshotTest {
  @Test
  void cli_runsFromASnapshotOfTheJarAndItsLibraries() throws Exception {
    Path home = TestProject.home();
    Path jar = home.resolve("target").resolve("latentlab.jar");
    byte[] built = Files.readAllBytes(jar);
    String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(built))
        .substring(0, 16);
    Path snapshot = home.resolve(".cache").resolve("java").resolve(hash);
    deleteTree(snapshot); // made again by the next CLI call

    Process cli = new ProcessBuilder(home.resolve("latentlab").toString(), "--version")
        .redirectErrorStream(true).start();
    String printed = new String(cli.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(cli.waitFor(120, TimeUnit.SECONDS));
    assertEquals(0, cli.exitValue(), printed);
    assertTrue(printed.startsWith("LatentLab "), printed);

    assertArrayEquals(built, Files.readAllBytes(snapshot.resolve("latentlab.jar")));
    assertEquals(names(home.resolve("target").resolve("lib")), names(snapshot.resolve("lib")),
        "the jar's Class-Path (lib/) beside it");
  }

  private static List<String> names(Path folder) throws IOException {
    try (Stream<Path> files = Files.list(folder)) {
      return files.map(f -> f.getFileName().toString()).sorted().toList();
    }
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
