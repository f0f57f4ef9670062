package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.store.RunFixtures;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code show} finding runs by trial id among real run directories. */
class ShowCommandTest {
  @TempDir Path runs;

  record Outcome(int exitCode, String out, String err) {}

  Outcome show(String run) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));
    return new Outcome(cli.execute("show", run, "--runs-dir", runs.toString()), out.toString(), err.toString());
  }

  @Test
  void show_fullIdAfterRerun_isTheLiveRun() {
    RunFixtures.writeRun(runs, "alpha", 1, "completed", true);
    RunFixtures.rerun(runs, "alpha", 1);
    Path live = runs.resolve("alpha").resolve(RunFixtures.trialId("alpha", 1).shortId());
    Outcome outcome = show(RunFixtures.trialId("alpha", 1).shortId());
    assertEquals(0, outcome.exitCode(), outcome.err());
    assertTrue(outcome.out().startsWith("run: " + live + System.lineSeparator()), outcome.out());
  }

  @Test
  void show_prefixAfterRerun_isTheLiveRun() {
    RunFixtures.writeRun(runs, "alpha", 1, "completed", true);
    RunFixtures.rerun(runs, "alpha", 1);
    Path live = runs.resolve("alpha").resolve(RunFixtures.trialId("alpha", 1).shortId());
    Outcome outcome = show(RunFixtures.trialId("alpha", 1).sha256().substring(0, 6));
    assertEquals(0, outcome.exitCode(), outcome.err());
    assertTrue(outcome.out().startsWith("run: " + live + System.lineSeparator()), outcome.out());
  }

  @Test
  void show_replacedRunByItsDirectory_isThatRun() {
    RunFixtures.writeRun(runs, "alpha", 1, "completed", true);
    Path kept = RunFixtures.rerun(runs, "alpha", 1);
    Outcome outcome = show(kept.toString());
    assertEquals(0, outcome.exitCode(), outcome.err());
    assertTrue(outcome.out().startsWith("run: " + kept + System.lineSeparator()), outcome.out());
  }

  @Test
  void show_prefixOfTwoLiveRuns_isUsageErrorNamingThem() throws Exception {
    for (String experiment : new String[] {"alpha", "beta"}) {
      Path folder = Files.createDirectories(runs.resolve(experiment).resolve("abcdef012345"));
      Files.writeString(folder.resolve("provenance.json"), "{}");
    }
    Outcome outcome = show("abcdef");
    assertEquals(2, outcome.exitCode());
    assertTrue(outcome.err().contains("alpha") && outcome.err().contains("beta"), outcome.err());
  }
}
