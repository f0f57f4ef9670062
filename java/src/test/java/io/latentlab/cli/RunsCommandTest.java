package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.store.RunFixtures;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code runs} over real run directories, and the help of the commands that read runs. */
class RunsCommandTest {
  @TempDir Path runs;

  /** The in-JVM CLI runner every CLI test shares. */
  private static Cli.Outcome execute(String... args) {
    return Cli.execute(args);
  }

  @Test
  void runs_corruptRun_isListedAsCorruptNamingItsFile_withoutAStackTrace() throws Exception {
    RunFixtures.writeRun(runs, "alpha", 1, "completed", true);
    Path bad = RunFixtures.writeRun(runs, "alpha", 2, "completed", true);
    Files.writeString(bad.resolve("result.json"), "{\"experiment\": \"alp");
    Cli.Outcome outcome = execute("runs", "--runs-dir", runs.toString());
    assertEquals(0, outcome.exitCode(), outcome.err());
    assertEquals("", outcome.err());
    String corrupt = outcome.out().lines().filter(l -> l.contains(bad.getFileName().toString())).findFirst().orElseThrow();
    assertTrue(corrupt.contains("corrupt") && corrupt.contains("result.json"), outcome.out());
    assertTrue(outcome.out().contains("completed"), outcome.out());
  }

  @Test
  void runs_afterRerun_showsTheLiveRunOnly_andAllShowsTheReplacedOne() {
    RunFixtures.writeRun(runs, "alpha", 1, "completed", true);
    Path kept = RunFixtures.rerun(runs, "alpha", 1);
    Cli.Outcome live = execute("runs", "--runs-dir", runs.toString());
    assertEquals(0, live.exitCode(), live.err());
    assertEquals(3, live.out().lines().count(), live.out()); // header, rule, one run
    assertTrue(live.out().contains("incomplete"), live.out());
    assertFalse(live.out().contains("completed"), live.out());
    Cli.Outcome all = execute("runs", "--all", "--runs-dir", runs.toString());
    assertEquals(0, all.exitCode(), all.err());
    assertEquals(4, all.out().lines().count(), all.out());
    assertTrue(all.out().lines().anyMatch(l -> l.contains("replaced") && l.contains(kept.toString())), all.out());
  }

  @Test
  void runs_unknownStatus_isUsageErrorNamingTheStatuses() {
    Cli.Outcome outcome = execute("runs", "--status", "done", "--runs-dir", runs.toString());
    assertEquals(2, outcome.exitCode());
    assertTrue(outcome.err().contains("completed") && outcome.err().contains("corrupt"), outcome.err());
  }

  @Test
  void help_ofTheRunCommands_isWholeSentences() {
    CommandLine cli = Main.commandLine();
    for (String name : List.of("runs", "query", "show")) {
      var usage = cli.getSubcommands().get(name).getCommandSpec().usageMessage();
      for (String paragraph : usage.description()) {
        assertTrue(paragraph.endsWith(".") || paragraph.endsWith(":"),
            name + ": a description line is a fragment, and picocli wraps it mid-sentence: " + paragraph);
      }
    }
    String top = execute("--help").out();
    for (String name : List.of("runs", "query", "show")) {
      String entry = top.lines().dropWhile(l -> !l.startsWith("  " + name + " ")).findFirst().orElseThrow();
      String next = top.lines().dropWhile(l -> !l.equals(entry)).skip(1).findFirst().orElse("");
      String summary = next.startsWith("     ") ? entry + " " + next.strip() : entry;
      assertTrue(summary.endsWith("."), "cut in the command list: " + summary);
    }
  }
}
