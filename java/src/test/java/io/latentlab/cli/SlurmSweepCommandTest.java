package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.testing.LocalSlurm;
import io.latentlab.testing.TestProject;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code latentlab sweep --executor slurm} end to end on a real one-node Slurm
 * ({@link LocalSlurm}): the command (the packaged jar, as a user runs it) submits a job array
 * whose tasks are real {@code sweep-task} processes sampling a really trained run, waits for it,
 * and {@code sweep status} reads Slurm's side back. A tiny training sweep runs there too,
 * through a sweep killed mid-submission and run again, and TensorBoard serves its trials.
 */
class SlurmSweepCommandTest {
  @TempDir static Path dir;
  static LocalSlurm slurm;
  static String runId;

  @BeforeAll
  static void clusterAndTrainedRun() throws Exception {
    slurm = LocalSlurm.startIfInstalled();
    if (slurm == null) {
      return; // each test says it was skipped, and why
    }
    Path config = dir.resolve("tiny.yaml");
    Files.writeString(config, TestProject.tinyExperiment("slurm-sampled", 5, 2, 4));
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));
    int code = cli.execute("run", config.toString(), "--runs-dir", dir.resolve("runs").toString());
    assertEquals(0, code, out + "\n" + err);
    try (Stream<Path> runs = Files.list(dir.resolve("runs").resolve("slurm-sampled"))) {
      runId = runs.map(p -> p.getFileName().toString()).filter(n -> n.matches("[0-9a-f]{12}"))
          .findFirst().orElseThrow();
    }
  }

  @BeforeEach
  void needsSlurm() {
    LocalSlurm.assumeRunning(slurm);
  }

  @AfterAll
  static void stopCluster() {
    if (slurm != null) {
      slurm.close();
    }
  }

  @Test
  void sweep_slurmExecutor_realTasksCompleteAndStatusShowsTheArray() throws Exception {
    Path file = dir.resolve("on-slurm.yaml");
    Files.writeString(file, """
        sweep: on-slurm
        run: %s
        grid:
          sample.steps: [2, 3]
        evaluate: {samples: 20}
        slurm: {time: "00:20:00", max_parallel: 2}
        """.formatted(runId));

    Result sweep = latentlab("sweep", file.toString(), "--executor", "slurm",
        "--runs-dir", dir.resolve("runs").toString());

    assertEquals(0, sweep.code(), sweep.output() + logs());
    assertTrue(sweep.output().contains("2 trials running as Slurm job array 1, at most 2 at a time"),
        sweep.output());
    Path sweepDir = sweepDirectory();
    ObjectMapper json = new ObjectMapper();
    try (Stream<Path> states = Files.list(sweepDir.resolve("trials"))) {
      List<Path> files = states.filter(p -> p.toString().endsWith(".json")).toList();
      assertEquals(2, files.size());
      for (Path state : files) {
        JsonNode trial = json.readTree(state.toFile());
        assertEquals("completed", trial.get("state").asText(), trial.toString());
        assertTrue(trial.get("metrics").has("fid"), trial.toString());
      }
    }
    assertTrue(Files.isRegularFile(sweepDir.resolve("logs").resolve("slurm-1_0.log")));

    Result status = latentlab("sweep", "status", "on-slurm", "--runs-dir", dir.resolve("runs").toString());
    assertEquals(0, status.code(), status.output());
    assertTrue(status.output().contains("slurm: job array 1: 2 COMPLETED"), status.output());
  }

  /**
   * A training sweep on Slurm whose {@code latentlab sweep} is SIGKILLed while sbatch submits
   * its array: the controller is frozen (SIGSTOP) so that sbatch waits with its request sent,
   * the sweep is killed, the controller let go; the array it submitted exists, its id recorded
   * nowhere. The node is drained meanwhile, so the array stays queued until the second run has
   * looked at the queue. Running the sweep again finds that array and waits for it: nothing is
   * submitted twice, each trial trains once, and the sweep completes.
   */
  @Test
  void sweep_trainingSweepKilledWhileSbatchSubmits_rerunWaitsForThatArrayAndCompletes() throws Exception {
    Path file = dir.resolve("train-on-slurm.yaml");
    Files.writeString(file, """
        sweep: train-on-slurm
        base: tiny.yaml
        grid:
          seed: [61, 62]
        slurm: {time: "00:20:00", max_parallel: 2}
        """);
    String runs = dir.resolve("runs").toString();
    Path killedLog = dir.resolve("killed-sweep.log");
    Path rerunLog = dir.resolve("rerun-sweep.log");
    slurm.command("scontrol", "update", "NodeName=" + LocalSlurm.NODE, "State=DRAIN", "Reason=test");
    Process rerun = null;
    try {
      ProcessHandle sbatch = null;
      slurm.pauseController();
      try {
        Process killed = start(killedLog, "sweep", file.toString(), "--executor", "slurm", "--runs-dir", runs);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
        while (sbatch == null) {
          assertTrue(killed.isAlive(), "the sweep ended before sbatch ran: " + Files.readString(killedLog));
          assertTrue(System.nanoTime() < deadline, "no sbatch within 240 s: " + Files.readString(killedLog));
          Thread.sleep(50);
          sbatch = killed.children().filter(p -> p.info().command().map(c -> c.endsWith("/sbatch"))
              .orElse(false)).findFirst().orElse(null);
        }
        killed.destroyForcibly(); // SIGKILL mid-submission: sbatch has sent the array, no reply yet
        killed.waitFor();
      } finally {
        slurm.resumeController();
      }
      sbatch.onExit().get(60, TimeUnit.SECONDS); // it gets its reply; nobody reads it
      List<String> arrays = slurm.command("squeue", "--noheader", "--format=%F %j").lines()
          .filter(l -> l.contains(" latentlab-train-on-slurm-")).map(l -> l.strip().split(" ")[0])
          .distinct().toList();
      assertEquals(1, arrays.size(), "the killed sweep's array is queued: " + arrays);
      String orphan = arrays.get(0);

      rerun = start(rerunLog, "sweep", file.toString(), "--executor", "slurm", "--runs-dir", runs);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
      while (!Files.readString(rerunLog).contains("Slurm job array")) {
        assertTrue(rerun.isAlive(), "the rerun ended early: " + Files.readString(rerunLog));
        assertTrue(System.nanoTime() < deadline, "the rerun said nothing of Slurm within 240 s");
        Thread.sleep(200);
      }
    } finally {
      slurm.command("scontrol", "update", "NodeName=" + LocalSlurm.NODE, "State=RESUME");
    }
    assertTrue(rerun.waitFor(10, TimeUnit.MINUTES), "the rerun ends");
    String output = Files.readString(rerunLog);
    assertEquals(0, rerun.exitValue(), output + logs());
    List<String> submissions;
    Path sweepDir = sweepDirectory("train-on-slurm-");
    try (Stream<Path> records = Files.list(sweepDir.resolve("slurm"))) {
      submissions = records.filter(p -> p.toString().endsWith(".json")).map(Path::toString).toList();
    }
    assertEquals(1, submissions.size(), "nothing submitted twice: " + submissions + "\n" + output);
    String jobId = new ObjectMapper().readTree(Path.of(submissions.get(0)).toFile()).get("job_id").asText();
    assertTrue(output.contains("2 trials already in Slurm job array " + jobId), output);

    ObjectMapper json = new ObjectMapper();
    try (Stream<Path> states = Files.list(sweepDir.resolve("trials"))) {
      List<Path> files = states.filter(p -> p.toString().endsWith(".json")).toList();
      assertEquals(2, files.size());
      for (Path state : files) {
        JsonNode trial = json.readTree(state.toFile());
        assertEquals("completed", trial.get("state").asText(), trial + logs());
        assertTrue(Files.isRegularFile(Path.of(trial.get("directory").asText()).resolve("result.json")));
        String trialLog = Files.readString(sweepDir.resolve("logs").resolve(trial.get("trial").asText() + ".log"));
        assertEquals(1, trialLog.lines().filter(l -> l.contains("started")).count(), "trained once: " + trialLog);
      }
    }
    // TensorBoard over the sweep's trials: each its own run, both in the HParams tab.
    try (TensorBoardProbe board = new TensorBoardProbe(slurm.environment(), "--sweep",
        "train-on-slurm", "--runs-dir", runs)) {
      assertTrue(board.firstLine.contains("(2 trial(s) of sweep train-on-slurm)"), board.firstLine);
      JsonNode listed = json.readTree(board.get("data/runs"));
      assertEquals(2, listed.size(), listed.toString());
      JsonNode experiment = json.readTree(board.post("data/plugin/hparams/experiment",
          "{\"experimentName\": \"\"}"));
      List<String> differing = new ArrayList<>();
      experiment.path("hparamInfos").forEach(h -> {
        if (h.path("differs").asBoolean()) {
          differing.add(h.path("name").asText());
        }
      });
      assertEquals(List.of("seed"), differing, "the trials' one axis, seen across both: " + experiment);
      List<String> metrics = new ArrayList<>();
      experiment.path("metricInfos").forEach(m -> metrics.add(m.path("name").path("tag").asText()));
      assertTrue(metrics.contains("final/unet_final_loss"), metrics.toString());
    }
  }

  private static Process start(Path log, String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dlatentlab.home=" + TestProject.home(), "-jar",
        TestProject.home().resolve("target").resolve("latentlab.jar").toString()));
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    builder.environment().putAll(slurm.environment());
    return builder.start();
  }

  record Result(int code, String output) {}

  /** The packaged command line, as a user runs it, with the test cluster's SLURM_CONF. */
  static Result latentlab(String... args) throws Exception {
    Path jar = TestProject.home().resolve("target").resolve("latentlab.jar");
    assertTrue(Files.isRegularFile(jar), jar + " is missing: run ./latentlab test (it packages first)");
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dlatentlab.home=" + TestProject.home(), "-jar", jar.toString()));
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().putAll(slurm.environment());
    Process process = builder.start();
    process.getOutputStream().close();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(process.waitFor(10, TimeUnit.MINUTES), "latentlab " + String.join(" ", args));
    return new Result(process.exitValue(), output);
  }

  static Path sweepDirectory() throws Exception {
    return sweepDirectory("on-slurm-");
  }

  static Path sweepDirectory(String prefix) throws Exception {
    try (Stream<Path> sweeps = Files.list(dir.resolve("runs").resolve("sweeps"))) {
      return sweeps.filter(p -> p.getFileName().toString().startsWith(prefix)).findFirst()
          .orElseThrow();
    }
  }

  static String logs() throws Exception {
    StringBuilder text = new StringBuilder("\n");
    Path sweeps = dir.resolve("runs").resolve("sweeps");
    if (!Files.isDirectory(sweeps)) {
      return "";
    }
    try (Stream<Path> files = Files.walk(sweeps)) {
      for (Path file : files.filter(p -> p.toString().endsWith(".log")).toList()) {
        text.append("--- ").append(file.getFileName()).append('\n').append(Files.readString(file));
      }
    }
    return text + slurm.logTails();
  }
}
