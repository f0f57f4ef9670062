package io.latentlab.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.config.TrialId;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunDirectoryTest {
  @TempDir Path runs;
  private final TrialId id = TrialId.of("{\"name\":\"x\"}", 0);

  private RunDirectory create() {
    return RunDirectory.create(runs, "exp", id, "config.yaml", "name: x\n".getBytes(StandardCharsets.UTF_8));
  }

  private static List<String> names(Path dir) throws IOException {
    try (Stream<Path> list = Files.list(dir)) {
      return list.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void create_appearsWithItsFirstFileAndNoStagingLeft() throws IOException {
    RunDirectory dir = create();
    assertEquals(runs.resolve("exp").resolve(id.shortId()), dir.path());
    assertEquals(List.of("config.yaml"), names(dir.path()));
    assertEquals(List.of(id.shortId()), names(runs.resolve("exp")));
    assertFalse(dir.isComplete());
  }

  @Test
  void write_replacesContentAndLeavesNoTemporaryFile() throws IOException {
    RunDirectory dir = create();
    dir.writeText("result.json", "{\"a\":1}");
    dir.writeText("result.json", "{\"a\":2}");
    assertEquals("{\"a\":2}", Files.readString(dir.path().resolve("result.json")));
    assertEquals(List.of("config.yaml", "result.json"), names(dir.path()));
    assertTrue(dir.isComplete());
    assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(
        Files.getPosixFilePermissions(dir.path().resolve("result.json"))));
  }

  @Test
  void write_failingWriter_keepsTheOldFile() throws IOException {
    RunDirectory dir = create();
    dir.writeText("samples.png", "old");
    assertThrows(java.io.UncheckedIOException.class, () -> dir.write("samples.png", out -> {
      out.write("half".getBytes(StandardCharsets.UTF_8));
      throw new IOException("disk full");
    }));
    assertEquals("old", Files.readString(dir.path().resolve("samples.png")));
    assertEquals(List.of("config.yaml", "samples.png"), names(dir.path()));
  }

  @Test
  void write_nameEscapingTheDirectory_refused() {
    RunDirectory dir = create();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> dir.writeText("../../outside.txt", "x"));
    assertTrue(e.getMessage().contains("would leave the run directory"), e.getMessage());
    assertFalse(Files.exists(runs.resolve("outside.txt")));
  }

  @Test
  void create_existing_reusesIt() throws IOException {
    RunDirectory first = create();
    first.writeText("metrics.jsonl", "{}\n");
    RunDirectory again = create();
    assertEquals(first.path(), again.path());
    assertEquals(List.of("config.yaml", "metrics.jsonl"), names(again.path()));
  }
}
