package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.ConfigLoader;
import io.latentlab.run.ClaimHolder;
import io.latentlab.run.Trial;
import io.latentlab.run.TrialPlanner;
import io.latentlab.testing.LocalSlurm;
import io.latentlab.testing.TestProject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code latentlab run --executor slurm} against a real one-node Slurm ({@link LocalSlurm}):
 * what it refuses before anything is written, a trial another process holds, and a task killed
 * in a 2-task job. The end-to-end job that completes, with its bytes equal to a local 2-process
 * run's, is in {@link MultiProcessRunTest}.
 */
class SlurmRunCommandTest {
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path dir;
  static LocalSlurm slurm;

  @BeforeAll
  static void cluster() {
    slurm = LocalSlurm.startIfInstalled();
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

  /** The packaged command line with the test cluster's SLURM_CONF and 4 CPU devices. */
  private static Process start(Path log, String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dlatentlab.home=" + TestProject.home(), "-jar",
        TestProject.home().resolve("target").resolve("latentlab.jar").toString()));
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    builder.environment().putAll(slurm.environment());
    builder.environment().put("XLA_FLAGS", "--xla_force_host_platform_device_count=4");
    return builder.start();
  }

  private static Path config(String name) throws Exception {
    Path file = dir.resolve(name + ".yaml");
    Files.writeString(file, TestProject.tinyExperiment(name, 4, 2, 4));
    return file;
  }

  private static boolean isEmptyOrMissing(Path folder) throws Exception {
    if (!Files.exists(folder)) {
      return true;
    }
    try (Stream<Path> files = Files.walk(folder)) {
      return files.noneMatch(Files::isRegularFile);
    }
  }

  @Test
  void run_slurmOptionsWithoutSlurm_orProcessesThatDoNotMatch_exit2() throws Exception {
    Path config = config("usage");
    Path runs = dir.resolve("usage-runs");
    Cli.Outcome nodes = Cli.execute("run", config.toString(), "--runs-dir", runs.toString(),
        "--nodes", "2");
    assertEquals(2, nodes.exitCode(), nodes.err());
    assertTrue(nodes.err().contains("--nodes is an option of --executor slurm"), nodes.err());
    Cli.Outcome mismatch = Cli.execute("run", config.toString(), "--runs-dir", runs.toString(),
        "--executor", "slurm", "--nodes", "2", "--processes", "3");
    assertEquals(2, mismatch.exitCode(), mismatch.err());
    assertTrue(mismatch.err().contains("--processes 3 is not --nodes 2 × --tasks-per-node"), mismatch.err());
    Cli.Outcome executor = Cli.execute("run", config.toString(), "--runs-dir", runs.toString(),
        "--executor", "ray");
    assertEquals(2, executor.exitCode(), executor.err());
    assertTrue(isEmptyOrMissing(runs), "nothing written");
  }

  @Test
  void run_aJobSlurmRefuses_exit2NamingTheOptions_nothingLeft() throws Exception {
    Path config = config("refused");
    Path runs = dir.resolve("refused-runs");
    Path log = dir.resolve("refused.log");
    Process refused = start(log, "run", config.toString(), "--runs-dir", runs.toString(),
        "--executor", "slurm", "--partition", "nosuchpartition");
    assertTrue(refused.waitFor(120, TimeUnit.SECONDS));
    String said = Files.readString(log);
    assertEquals(2, refused.exitValue(), said);
    assertTrue(said.contains("Slurm refused the job (--nodes 1, --tasks-per-node 1, --partition "
        + "nosuchpartition)"), said);
    assertTrue(said.toLowerCase().contains("invalid partition"), "Slurm's own words: " + said);
    assertTrue(isEmptyOrMissing(runs), "no run directory, no batch script left");
  }

  @Test
  void run_aTrialAnotherProcessHolds_exit3_nothingSubmitted() throws Exception {
    Path config = config("held");
    Path runs = dir.resolve("held-runs");
    Trial trial = new TrialPlanner(runs, PythonBridge.start(TestProject.home()))
        .plan(config, new ConfigLoader().load(config), 0);
    Process holder = ClaimHolder.start(trial.directory());
    try {
      Path log = dir.resolve("held.log");
      Process refused = start(log, "run", config.toString(), "--runs-dir", runs.toString(),
          "--executor", "slurm");
      assertTrue(refused.waitFor(120, TimeUnit.SECONDS));
      String said = Files.readString(log);
      assertEquals(3, refused.exitValue(), said);
      assertTrue(said.contains("pid " + holder.pid()) && said.contains("nothing was submitted"), said);
      assertEquals("", slurm.command("squeue", "--noheader").strip(), "no job in the queue");
    } finally {
      holder.destroyForcibly();
      holder.waitFor();
    }
  }

  @Test
  void run_aTaskKilledInAJobOfTwo_failsTheJobNamingIt_noProcessLeft() throws Exception {
    Path config = dir.resolve("killed-task.yaml");
    Files.writeString(config, "name: killed-task\nseed: 5\n" + TestProject.TINY_MODELS_AND_DATA + """
        train:
          vae: {steps: 400, batch_size: 8}
          unet: {steps: 4, batch_size: 8}
        """);
    Path runs = dir.resolve("killed-runs");
    Path log = dir.resolve("killed.log");
    Process submitter = start(log, "run", config.toString(), "--runs-dir", runs.toString(),
        "--executor", "slurm", "--tasks-per-node", "2");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    Optional<ProcessHandle> task1 = Optional.empty();
    while (task1.isEmpty()) { // the task of SLURM_PROCID 1, once srun started it
      assertTrue(submitter.isAlive(), "the job ended before its tasks ran: " + Files.readString(log));
      assertTrue(System.nanoTime() < deadline, "no task 1 within 120 s: " + Files.readString(log));
      task1 = ProcessHandle.allProcesses().filter(p -> isTask(p, 1)).findFirst();
      Thread.sleep(100);
    }
    Thread.sleep(3000); // into its start-up or training; either way its peer waits for it
    task1.get().destroyForcibly(); // SIGKILL
    assertTrue(submitter.waitFor(120, TimeUnit.SECONDS), "the job did not end after a task died");
    String said = Files.readString(log);
    assertEquals(1, submitter.exitValue(), said);
    assertTrue(said.contains("process 1 of 2 (Slurm task 1) failed"), said);
    assertTrue(said.matches("(?s).*Slurm job \\d+ ended FAILED \\(exit 1\\).*"), said);
    assertFalse(ProcessHandle.allProcesses().anyMatch(p -> isTask(p, 0) || isTask(p, 1)),
        "no task left behind");
    Path trial;
    try (Stream<Path> found = Files.list(runs.resolve("killed-task"))) {
      trial = found.findFirst().orElseThrow();
    }
    JsonNode provenance = JSON.readTree(trial.resolve("provenance.json").toFile());
    assertEquals("failed", provenance.get("status").asText());
    assertTrue(provenance.get("error").asText().contains("process 1 of 2"), provenance.toString());
    assertTrue(provenance.at("/slurm/job_id").asText().matches("\\d+"), provenance.toString());
  }

  /** A process of a srun-started run with that Slurm task id. */
  private static boolean isTask(ProcessHandle process, int rank) {
    if (!process.info().commandLine().orElse("").contains("latentlab.distributed")) {
      return false;
    }
    try {
      String environ = Files.readString(Path.of("/proc", Long.toString(process.pid()), "environ"),
          StandardCharsets.ISO_8859_1);
      return ("\0" + environ).contains("\0SLURM_PROCID=" + rank + "\0");
    } catch (Exception gone) {
      return false;
    }
  }
}
