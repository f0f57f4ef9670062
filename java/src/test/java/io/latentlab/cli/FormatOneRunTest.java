package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.config.ConfigFormat;
import io.latentlab.run.RunDirectory;
import io.latentlab.testing.TestProject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run directory written before config formats existed (format 1: its config.yaml has no
 * {@code format} key) still shows, queries and reproduces. The committed run
 * ({@code java/src/test/fixtures/runs-format1}) was made by commit 9dad274's jar from a tiny
 * config; its checkpoint is left out (nothing here opens its weights).
 */
class FormatOneRunTest {
  private static final String TRIAL = "5b24d607f46c";
  @TempDir Path dir;

  /** A copy of the committed runs folder, so nothing here writes into the repository. */
  private Path runs() throws IOException {
    Path source = TestProject.home().resolve("java/src/test/fixtures/runs-format1");
    Path runs = dir.resolve("runs");
    try (Stream<Path> files = Files.walk(source)) {
      for (Path file : (Iterable<Path>) files::iterator) {
        Path target = runs.resolve(source.relativize(file).toString());
        if (Files.isDirectory(file)) {
          Files.createDirectories(target);
        } else {
          Files.copy(file, target);
        }
      }
    }
    return runs;
  }

  @Test
  void formatOneRun_showsQueriesAndReproducesUnderItsOwnTrialId() throws IOException {
    Path runs = runs();
    Path run = runs.resolve("format1").resolve(TRIAL);
    assertFalse(Files.readString(run.resolve(RunDirectory.CONFIG)).contains(ConfigFormat.KEY + ":"),
        "the fixture is a format-1 run");

    Cli.Outcome shown = Cli.execute("show", TRIAL, "--runs-dir", runs.toString());
    assertEquals(0, shown.exitCode(), shown.err());
    assertTrue(shown.out().contains(TRIAL) && shown.out().contains("completed"), shown.out());

    Cli.Outcome queried = Cli.execute("query", "SELECT experiment, status, trial FROM runs",
        "--runs-dir", runs.toString());
    assertEquals(0, queried.exitCode(), queried.err());
    assertTrue(queried.out().contains("format1") && queried.out().contains("completed") && queried.out().contains(TRIAL), queried.out());

    // Reproduced from its recorded config: the migrated config is the same experiment, so the
    // trial id and every config key agree. Versions and git differ by design (another commit
    // made the run); outputs are compared on the machine that made them, not asserted here.
    Cli.Outcome reproduced = Cli.execute("reproduce", TRIAL, "--runs-dir", runs.toString());
    String report = reproduced.out() + reproduced.err();
    assertTrue(report.contains("reproduction: " + runs.resolve(".reproductions")), report);
    assertFalse(report.contains("trial id:"), "same trial id: " + report);
    assertFalse(report.lines().anyMatch(line -> line.strip().startsWith("config")), "same config: " + report);
    Path again;
    try (Stream<Path> found = Files.walk(runs.resolve(".reproductions"))) {
      again = found.filter(p -> p.getFileName().toString().equals(RunDirectory.CONFIG)).findFirst().orElseThrow();
    }
    assertTrue(Files.readString(again).contains("\n" + ConfigFormat.KEY + ": " + ConfigFormat.CURRENT + "\n"),
        "a new run records the current format");
    assertEquals(TRIAL, again.getParent().getFileName().toString());
  }
}
