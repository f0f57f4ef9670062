package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.run.ClaimHolder;
import io.latentlab.testing.TestProject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Sweeps end to end through the CLI: real configs, real Python, real processes. */
class SweepCommandTest {
  @TempDir static Path dir;
  static final ObjectMapper JSON = new ObjectMapper();


  static Path write(String name, String text) throws IOException {
    Path file = dir.resolve(name);
    Files.writeString(file, text);
    return file;
  }

  static long filesUnder(Path root) throws IOException {
    if (!Files.exists(root)) {
      return 0;
    }
    try (Stream<Path> files = Files.walk(root)) {
      return files.filter(Files::isRegularFile).count();
    }
  }

  @BeforeAll
  static void baseConfig() throws IOException {
    write("tiny.yaml", TestProject.tinyExperiment("sweep-tiny", 1, 2, 4));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      unknown config key   | grid: {train.unet.stepz: [1, 2]}         | :3:8: grid.train.unet.stepz = 1: train.unet.stepz: unknown key
      wrong value type     | grid: {seed: [one, two]}                 | :3:8: grid.seed = one: seed: expected an integer
      range (Java)         | grid: {train.unet.steps: [4, -1]}        | :3:8: grid.train.unet.steps = -1:
      range (Python)       | grid: {model.unet.channels: [16, -1]}    | :3:8: grid.model.unet.channels = -1:
      unknown sampler name | grid: {sample.sampler: [ddim, magic]}    | :3:8: grid.sample.sampler = magic:
      too many trials      | grid: {seed: [1, 2, 3]}\\nmax_trials: 2   | max_trials: the sweep has 3 trials, more than max_trials = 2
      """)
  void sweep_badTrainingSweep_oneLineExit2NothingWritten(String name, String axes, String expected)
      throws IOException {
    Path file = write("bad.yaml", "sweep: bad\nbase: tiny.yaml\n" + axes.replace("\\n", "\n") + "\n");
    Path runs = dir.resolve("bad-runs");
    Cli.Outcome outcome = Cli.execute("sweep", file.toString(), "--runs-dir", runs.toString());
    assertEquals(2, outcome.exitCode(), outcome.err());
    assertEquals(1, outcome.err().lines().count(), outcome.err());
    assertTrue(outcome.err().startsWith(file.toString()), outcome.err());
    assertTrue(outcome.err().contains(expected.strip()), outcome.err());
    assertEquals(0, filesUnder(runs), "nothing written");
  }

  @Test
  void sweep_samplingSweepOverAMissingRun_exit2() throws IOException {
    Path file = write("nosuchrun.yaml", "sweep: s\nrun: abcdef12\ngrid: {sample.steps: [1, 2]}\n");
    Cli.Outcome outcome = Cli.execute("sweep", file.toString(), "--runs-dir", dir.resolve("empty-runs").toString());
    assertEquals(2, outcome.exitCode(), outcome.err());
    assertTrue(outcome.err().contains(":2:1: run: no run under"), outcome.err());
  }

  @Test
  void sweep_training_isolatesAFailureResumesAndRetriesOnlyWhenAsked() throws Exception {
    Path runs = dir.resolve("training-runs");
    Path file = write("seeds.yaml", """
        sweep: seeds
        base: tiny.yaml
        grid:
          seed: [1, 2]
        """);
    Cli.Outcome plan = Cli.execute("sweep", file.toString(), "--dry-run", "--runs-dir", runs.toString());
    assertEquals(0, plan.exitCode(), plan.err());
    List<String> rows = plan.out().lines().filter(l -> l.matches("\\d+ +[0-9a-f]{12} .*")).toList();
    assertEquals(2, rows.size(), plan.out());
    assertTrue(rows.get(0).endsWith("pending"), plan.out());
    String failing = rows.get(1).split(" +")[1];

    // Trial 2's outputs cannot be written (a folder is in the way): it fails, trial 1 completes.
    Path blocked = runs.resolve("sweep-tiny").resolve(failing).resolve("latents.arrow").resolve("x");
    Files.createDirectories(blocked);
    Cli.Outcome first = Cli.execute("sweep", file.toString(), "--runs-dir", runs.toString());
    assertEquals(1, first.exitCode(), first.out() + first.err());
    assertTrue(first.err().contains("1 trials failed"), first.err());
    assertTrue(first.err().contains(failing), "names the failed trial: " + first.err());

    Path sweepDir;
    try (Stream<Path> sweeps = Files.list(runs.resolve("sweeps"))) {
      sweepDir = sweeps.filter(p -> p.getFileName().toString().startsWith("seeds-")).findFirst().orElseThrow();
    }
    JsonNode failed = JSON.readTree(sweepDir.resolve("trials").resolve(failing + ".json").toFile());
    assertEquals("failed", failed.get("state").asText());
    assertFalse(failed.get("error").asText().contains("\n"));
    assertTrue(Files.readString(sweepDir.resolve("logs").resolve(failing + ".log")).contains("failed"));
    String completed = rows.get(0).split(" +")[1];
    Path completedResult = runs.resolve("sweep-tiny").resolve(completed).resolve("result.json");
    String resultBefore = Files.readString(completedResult);

    // Again: the completed trial is not rerun, the failed one is not retried.
    Cli.Outcome again = Cli.execute("sweep", file.toString(), "--runs-dir", runs.toString());
    assertEquals(1, again.exitCode());
    assertEquals(1, JSON.readTree(sweepDir.resolve("trials").resolve(failing + ".json").toFile())
        .get("attempts").asInt(), "not retried without --retry-failed");
    assertEquals(resultBefore, Files.readString(completedResult), "completed trial untouched");

    // --retry-failed with the obstacle gone: it completes, and the report lists both.
    Files.delete(blocked);
    Files.delete(blocked.getParent());
    Cli.Outcome retried = Cli.execute("sweep", file.toString(), "--retry-failed", "--runs-dir", runs.toString());
    assertEquals(0, retried.exitCode(), retried.out() + retried.err());
    JsonNode state = JSON.readTree(sweepDir.resolve("trials").resolve(failing + ".json").toFile());
    assertEquals("completed", state.get("state").asText());
    assertEquals(2, state.get("attempts").asInt());
    assertTrue(Files.readString(sweepDir.resolve("report.md")).contains(failing));

    // A run of the same config outside the sweep is the same trial: nothing to do.
    Cli.Outcome alone = Cli.execute("run", dir.resolve("tiny.yaml").toString(), "seed=1", "--runs-dir", runs.toString());
    assertTrue(alone.out().contains("already completed"), alone.out());

    // Another sweep with trial 1 finds it completed: nothing runs, and its own directory
    // records the trial completed with its metrics (its report must not call it pending).
    Path other = write("seeds-again.yaml", "sweep: seeds-again\nbase: tiny.yaml\ngrid:\n  seed: [1]\n");
    Cli.Outcome elsewhere = Cli.execute("sweep", other.toString(), "--runs-dir", runs.toString());
    assertEquals(0, elsewhere.exitCode(), elsewhere.out() + elsewhere.err());
    String reused = rows.get(0).split(" +")[1];
    JsonNode recorded = JSON.readTree(sweepDirectory(runs, "seeds-again").resolve("trials")
        .resolve(reused + ".json").toFile());
    assertEquals("completed", recorded.get("state").asText());
    assertTrue(recorded.get("metrics").has("unet_final_loss"), recorded.toString());
    assertEquals(0, recorded.get("attempts").asInt(), "found completed, not run");

    // The same trial in a scored training sweep: trained already, so only its scoring runs
    // (its own sample settings, 20 samples), kept in the run's sampling/ folder.
    Path scored = write("seeds-scored.yaml",
        "sweep: seeds-scored\nbase: tiny.yaml\ngrid:\n  seed: [1]\nevaluate: {samples: 20}\n");
    Cli.Outcome scoring = Cli.execute("sweep", scored.toString(), "--runs-dir", runs.toString());
    assertEquals(0, scoring.exitCode(), scoring.out() + scoring.err());
    JsonNode score = JSON.readTree(sweepDirectory(runs, "seeds-scored").resolve("trials")
        .resolve(reused + ".json").toFile());
    assertEquals("completed", score.get("state").asText(), score.toString());
    assertTrue(score.get("metrics").has("fid"), "scored: " + score);
    assertTrue(score.get("metrics").get("fid").asDouble() > 0, score.toString());
    assertTrue(score.get("metrics").has("conditional_accuracy"), score.toString());
    assertEquals(recorded.get("metrics").get("unet_final_loss"), score.get("metrics").get("unet_final_loss"));
    assertEquals(resultBefore, Files.readString(completedResult), "scored, not trained again");
    try (Stream<Path> kept = Files.list(completedResult.resolveSibling("sampling"))) {
      assertEquals(1, kept.filter(f -> f.toString().endsWith(".json")).count());
    }
    Cli.Outcome scoredAgain = Cli.execute("sweep", scored.toString(), "--dry-run", "--runs-dir", runs.toString());
    assertTrue(scoredAgain.out().lines().anyMatch(l -> l.contains(reused) && l.endsWith("completed")),
        scoredAgain.out());
  }

  @Test
  void sweep_killedMidway_resumesWithNothingLostOrRunTwice() throws Exception {
    Path runs = dir.resolve("killed-runs");
    Path file = write("killed.yaml", """
        sweep: killed
        base: tiny.yaml
        grid:
          seed: [11, 12]
        """);
    Path log = dir.resolve("killed.log");
    Process sweep = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dlatentlab.home=" + TestProject.home(), "-jar",
        TestProject.home().resolve("target").resolve("latentlab.jar").toString(),
        "sweep", file.toString(), "--runs-dir", runs.toString())
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
    Path firstResult = null;
    while (firstResult == null) {
      assertTrue(sweep.isAlive(), "the sweep ended before it was killed: " + Files.readString(log));
      assertTrue(System.nanoTime() < deadline, "no trial completed within 300 s");
      Thread.sleep(100);
      try (Stream<Path> files = Files.isDirectory(runs) ? Files.walk(runs) : Stream.empty()) {
        firstResult = files.filter(p -> p.getFileName().toString().equals("result.json")).findFirst().orElse(null);
      } catch (java.io.UncheckedIOException | java.nio.file.NoSuchFileException e) {
        firstResult = null; // a folder was renamed under the walk: look again
      }
    }
    sweep.destroyForcibly(); // SIGKILL mid-sweep
    sweep.waitFor();
    String firstBefore = Files.readString(firstResult);

    Cli.Outcome resumed = Cli.execute("sweep", file.toString(), "--runs-dir", runs.toString());
    assertEquals(0, resumed.exitCode(), resumed.out() + resumed.err());
    assertEquals(firstBefore, Files.readString(firstResult), "the completed trial was not run again");
    try (Stream<Path> results = Files.walk(runs)) {
      assertEquals(2, results.filter(p -> p.getFileName().toString().equals("result.json")).count());
    }
    try (Stream<Path> metrics = Files.walk(runs)) {
      for (Path m : metrics.filter(p -> p.getFileName().toString().equals("metrics.jsonl")).toList()) {
        List<String> lines = Files.readAllLines(m);
        assertEquals(lines.size(), lines.stream().distinct().count(), "no step recorded twice: " + m);
      }
    }
  }

  @Test
  void sweep_twoSweepsShareATrialAtOnce_itRunsOnceAndTheSecondWaitsForItsResult() throws Exception {
    Path runs = dir.resolve("shared-runs");
    Path first = write("shared-a.yaml", "sweep: shared-a\nbase: tiny.yaml\ngrid:\n  seed: [41]\n");
    Path second = write("shared-b.yaml", "sweep: shared-b\nbase: tiny.yaml\ngrid:\n  seed: [41]\n");
    Cli.Outcome plan = Cli.execute("sweep", second.toString(), "--dry-run", "--runs-dir", runs.toString());
    List<String> trials = plan.out().lines().filter(l -> l.matches("\\d+ +[0-9a-f]{12} .*"))
        .map(l -> l.split(" +")[1]).toList();
    assertEquals(1, trials.size(), plan.out());
    String shared = trials.get(0);
    Path claim = runs.resolve(".claims").resolve("sweep-tiny").resolve(shared + ".claim");

    // Sweep A, a process of its own, takes the shared trial; sweep B starts while A runs it.
    Path log = dir.resolve("shared-a.log");
    Process sweepA = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dlatentlab.home=" + TestProject.home(), "-jar",
        TestProject.home().resolve("target").resolve("latentlab.jar").toString(),
        "sweep", first.toString(), "--runs-dir", runs.toString())
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    Cli.Outcome sweepB;
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
      // While held, the claim file names its holder; empty or absent, nobody holds it.
      while (!Files.exists(claim) || Files.size(claim) == 0) {
        assertTrue(sweepA.isAlive(), "sweep A ended before it claimed the trial: " + Files.readString(log));
        assertTrue(System.nanoTime() < deadline, "sweep A did not claim the trial within 300 s");
        Thread.sleep(100);
      }
      sweepB = Cli.execute("sweep", second.toString(), "--runs-dir", runs.toString());
      assertTrue(sweepA.waitFor(300, TimeUnit.SECONDS), "sweep A ends");
    } finally {
      sweepA.destroyForcibly();
    }
    assertEquals(0, sweepA.exitValue(), Files.readString(log));
    assertEquals(0, sweepB.exitCode(), sweepB.out() + sweepB.err());
    assertTrue(sweepB.err().contains("trial " + shared + " is running in another process (host "),
        "B saw A running it and waited: " + sweepB.err());

    JsonNode inA = JSON.readTree(sweepDirectory(runs, "shared-a").resolve("trials").resolve(shared + ".json").toFile());
    Path dirB = sweepDirectory(runs, "shared-b");
    Path stateB = dirB.resolve("trials").resolve(shared + ".json");
    assertTrue(Files.isRegularFile(stateB), "B recorded how the shared trial ended: " + sweepB.out() + sweepB.err());
    JsonNode inB = JSON.readTree(stateB.toFile());
    assertEquals("completed", inA.get("state").asText(), inA.toString());
    assertEquals("completed", inB.get("state").asText(), "B reports the trial A ran: " + inB);
    assertEquals(inA.get("metrics"), inB.get("metrics"));
    assertEquals(1, inA.get("attempts").asInt());
    assertEquals(0, inB.get("attempts").asInt(), "B never ran it");
    assertEquals(1, Files.readAllLines(sweepDirectory(runs, "shared-a").resolve("logs").resolve(shared + ".log"))
        .stream().filter(l -> l.contains("started")).count(), "A ran it once");
    List<String> lines = Files.readAllLines(runs.resolve("sweep-tiny").resolve(shared).resolve("metrics.jsonl"));
    assertEquals(lines.size(), lines.stream().distinct().count(), "no step recorded twice");
  }

  static Path sweepDirectory(Path runs, String name) throws IOException {
    try (Stream<Path> sweeps = Files.list(runs.resolve("sweeps"))) {
      return sweeps.filter(p -> p.getFileName().toString().matches(name + "-[0-9a-f]{12}"))
          .findFirst().orElseThrow();
    }
  }

  @Test
  void sweep_parallelWorkers_waitForTrialsAnotherProcessHolds_recordTheirResultOrRunThem()
      throws Exception {
    Path runs = dir.resolve("held-runs");
    Path file = write("held.yaml", "sweep: held\nbase: tiny.yaml\ngrid:\n  seed: [51, 52]\n");
    Cli.Outcome plan = Cli.execute("sweep", file.toString(), "--dry-run", "--runs-dir", runs.toString());
    List<String> trials = plan.out().lines().filter(l -> l.matches("\\d+ +[0-9a-f]{12} .*"))
        .map(l -> l.split(" +")[1]).toList();
    assertEquals(2, trials.size(), plan.out());
    String handedOver = trials.get(0); // seed 51: its holder writes its result, then lets go
    String abandoned = trials.get(1); // seed 52: its holder dies without one
    // What the first holder will have written: the same trial, run alone under another root.
    Path elsewhere = dir.resolve("held-elsewhere");
    Cli.Outcome alone = Cli.execute("run", dir.resolve("tiny.yaml").toString(), "seed=51",
        "--runs-dir", elsewhere.toString());
    assertEquals(0, alone.exitCode(), alone.err());
    Path result = elsewhere.resolve("sweep-tiny").resolve(handedOver);
    assertTrue(Files.isRegularFile(result.resolve("result.json")), "the same trial id: " + alone.out());

    Path experiment = runs.resolve("sweep-tiny");
    Process holder51 = ClaimHolder.start(experiment.resolve(handedOver));
    Process holder52 = ClaimHolder.start(experiment.resolve(abandoned));
    CompletableFuture<Cli.Outcome> sweep;
    try {
      assertTrue(holder51.isAlive() && holder52.isAlive(), "both trials are held");
      sweep = CompletableFuture.supplyAsync(() -> Cli.execute(
          "sweep", file.toString(), "--parallel", "2", "--runs-dir", runs.toString()));
      // Each trial's worker finds it held, says by whom in the trial's log, and exits 3.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
      for (String trial : trials) {
        Path log = null;
        while (log == null || !Files.readString(log).contains("already running elsewhere")) {
          assertFalse(sweep.isDone(), "the sweep ended while its trials were held: "
              + (sweep.isDone() ? sweep.get().err() : ""));
          assertTrue(System.nanoTime() < deadline, "no worker found trial " + trial + " held");
          Thread.sleep(100);
          log = Files.isDirectory(runs.resolve("sweeps")) ? sweepDirectory(runs, "held")
              .resolve("logs").resolve(trial + ".log") : null;
          log = log != null && Files.isRegularFile(log) ? log : null;
        }
      }
      Thread.sleep(1000);
      assertFalse(sweep.isDone(), "the sweep waits while the trials are held");
      // The first holder completes its trial: writes the run directory, then releases.
      Files.createDirectories(experiment);
      try (Stream<Path> files = Files.walk(result)) {
        for (Path from : files.toList()) {
          Files.copy(from, experiment.resolve(handedOver).resolve(result.relativize(from).toString()));
        }
      }
      holder51.getOutputStream().close();
      assertTrue(holder51.waitFor(60, TimeUnit.SECONDS));
      holder52.destroyForcibly(); // dies with its trial unrun: the kernel drops its lock
    } finally {
      holder51.destroyForcibly();
      holder52.destroyForcibly();
    }
    Cli.Outcome outcome = sweep.get(300, TimeUnit.SECONDS);
    assertEquals(0, outcome.exitCode(), outcome.out() + outcome.err());
    assertTrue(outcome.err().contains("is running in another process (its worker's log"), outcome.err());

    Path trialStates = sweepDirectory(runs, "held").resolve("trials");
    JsonNode received = JSON.readTree(trialStates.resolve(handedOver + ".json").toFile());
    assertEquals("completed", received.get("state").asText(), received.toString());
    assertEquals(0, received.get("attempts").asInt(), "recorded from its holder's result, not run");
    assertEquals(JSON.readTree(result.resolve("result.json").toFile()).get("metrics")
        .get("unet_final_loss"), received.get("metrics").get("unet_final_loss"), received.toString());
    JsonNode taken = JSON.readTree(trialStates.resolve(abandoned + ".json").toFile());
    assertEquals("completed", taken.get("state").asText(), taken.toString());
    assertEquals(1, taken.get("attempts").asInt(), "a worker ran the trial its holder left: " + taken);
    assertTrue(Files.isRegularFile(experiment.resolve(abandoned).resolve("result.json")));
  }

  @Test
  void sweep_parallelWorkers_runTrialsInProcessesWithLogsAndADeadWorkerFailsOnlyItsTrial() throws Exception {
    Path runs = dir.resolve("parallel-runs");
    Path file = write("parallel.yaml", """
        sweep: parallel
        base: tiny.yaml
        grid:
          seed: [21, 22]
        """);
    Cli.Outcome outcome = Cli.execute("sweep", file.toString(), "--parallel", "2", "--runs-dir", runs.toString());
    assertEquals(0, outcome.exitCode(), outcome.out() + outcome.err());
    Path sweepDir;
    try (Stream<Path> sweeps = Files.list(runs.resolve("sweeps"))) {
      sweepDir = sweeps.findFirst().orElseThrow();
    }
    try (Stream<Path> logs = Files.list(sweepDir.resolve("logs"))) {
      List<Path> files = logs.toList();
      assertEquals(2, files.size(), files.toString());
      for (Path f : files) {
        assertTrue(Files.readString(f).contains("completed"), "each worker's own log: " + Files.readString(f));
      }
    }

    // A worker killed mid-trial: its trial is failed with the reason, the sweep goes on.
    Path dying = write("dying.yaml", """
        sweep: dying
        base: tiny.yaml
        grid:
          train.vae.steps: [20000]
        """);
    Thread killer = new Thread(() -> {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
      while (System.nanoTime() < deadline) {
        var workers = ProcessHandle.allProcesses().filter(p -> p.info().commandLine()
            .map(c -> c.contains("sweep-task") && c.contains("dying-")).orElse(false)).toList();
        if (!workers.isEmpty()) {
          try {
            Thread.sleep(3000); // let it start training
          } catch (InterruptedException e) {
            return;
          }
          workers.forEach(ProcessHandle::destroyForcibly);
          return;
        }
        Thread.onSpinWait();
      }
    });
    killer.start();
    Cli.Outcome died = Cli.execute("sweep", dying.toString(), "--parallel", "2", "--runs-dir", runs.toString());
    killer.join();
    assertEquals(1, died.exitCode(), died.out() + died.err());
    assertTrue(died.err().contains("its worker process ended with exit code 137"), died.err());
  }
}
