package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.ConfigLoader;
import io.latentlab.run.ClaimHolder;
import io.latentlab.run.Trial;
import io.latentlab.run.TrialPlanner;
import io.latentlab.testing.TestProject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two real processes and one trial: claims, their takeover, and an interrupted run. */
class RunClaimProcessTest {
  @TempDir Path dir;


  private static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  @Test
  void run_trialClaimedByAnotherProcess_exit3OneLineThenTakesOverWhenItDies() throws Exception {
    Path config = dir.resolve("claimed.yaml");
    Files.writeString(config, TestProject.tinyExperiment("claimed", 3, 2, 4));
    Path runs = dir.resolve("runs");
    Trial trial = new TrialPlanner(runs, PythonBridge.start(TestProject.home()))
        .plan(config, new ConfigLoader().load(config), 0);

    Process holder = ClaimHolder.start(trial.directory());
    try {
      assertTrue(holder.isAlive(), "the holder claimed the trial");

      Cli.Outcome refused = Cli.execute("run", config.toString(), "--runs-dir", runs.toString());
      assertEquals(3, refused.exitCode(), refused.err());
      assertEquals(1, refused.err().lines().count(), refused.err());
      assertTrue(refused.err().contains("already running elsewhere"), refused.err());
      assertTrue(refused.err().contains("pid " + holder.pid()), "names the holder: " + refused.err());
      assertFalse(Files.exists(trial.directory()), "nothing was started");
    } finally {
      holder.destroyForcibly(); // SIGKILL: the kernel drops its lock, nothing cleans up
      holder.waitFor();
    }

    Cli.Outcome taken = Cli.execute("run", config.toString(), "--runs-dir", runs.toString());
    assertEquals(0, taken.exitCode(), taken.err());
    assertTrue(Files.isRegularFile(trial.directory().resolve("result.json")));
  }

  @Test
  void run_sigterm_recordsInterruptedAndSaysSo() throws Exception {
    Path config = dir.resolve("stopped.yaml");
    Files.writeString(config, "name: stopped\n" + TestProject.TINY_MODELS_AND_DATA + """
        train:
          vae: {steps: 100000, batch_size: 8}
        """);
    Path runs = dir.resolve("runs");
    Path log = dir.resolve("stopped.log");
    Process process = new ProcessBuilder(java(), "-Dlatentlab.home=" + TestProject.home(), "-jar",
        TestProject.home().resolve("target").resolve("latentlab.jar").toString(),
        "run", config.toString(), "--runs-dir", runs.toString())
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
    Path metrics = null;
    while (metrics == null || Files.size(metrics) == 0) {
      assertTrue(process.isAlive(), "the run ended early: " + Files.readString(log));
      assertTrue(System.nanoTime() < deadline, "no training within 180 s: " + Files.readString(log));
      Thread.sleep(100);
      try (Stream<Path> files = Files.isDirectory(runs) ? Files.walk(runs) : Stream.empty()) {
        metrics = files.filter(p -> p.getFileName().toString().equals("metrics.jsonl")).findFirst().orElse(null);
      }
    }
    process.destroy(); // SIGTERM, as a terminal's kill or a cluster's preemption sends
    assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the JVM stops");
    assertNotEquals(0, process.exitValue());

    var provenance = new ObjectMapper().readTree(metrics.resolveSibling("provenance.json").toFile());
    assertEquals("interrupted", provenance.get("status").asText(), provenance.toString());
    assertFalse(provenance.get("ended_at").isNull(), "the time it stopped is recorded");
    List<String> said = Files.readAllLines(log).stream().filter(l -> l.contains("interrupted")).toList();
    assertEquals(1, said.size(), Files.readString(log));
    assertTrue(said.get(0).contains(metrics.getParent().toString()), said.get(0));
  }
}
