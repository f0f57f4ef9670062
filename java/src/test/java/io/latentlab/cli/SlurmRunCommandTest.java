package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.ConfigLoader;
import io.latentlab.run.ClaimHolder;
import io.latentlab.run.Trial;
import io.latentlab.run.TrialPlanner;
import io.latentlab.testing.LocalSlurm;
import io.latentlab.testing.TestProject;
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

/**
 * {@code latentlab run --executor slurm} against a real one-node Slurm ({@link LocalSlurm}):
 * what it refuses before anything is written, and a trial another process holds. A 2-task job
 * with a task killed, submitted again, and its bytes against a local 2-process run's are in
 * {@link MultiProcessRunTest}.
 */
class SlurmRunCommandTest {
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
    List<String> command = TestProject.cli(args);
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
}
