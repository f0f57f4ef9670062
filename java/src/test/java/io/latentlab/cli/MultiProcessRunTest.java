package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.tensor.Allocators;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorFiles;
import io.latentlab.testing.TestProject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One run over two real JAX processes on this host (execution.processes), each with two of the
 * four simulated CPU devices the launching JVM sees, against one process of four.
 */
class MultiProcessRunTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String FOUR_DEVICES = "--xla_force_host_platform_device_count=4";
  // The tolerance of 2 × 2 against 1 × 4: float32 rounding, as for 4 devices against 1 (the
  // gradients are summed in another order). Measured: losses within 2e-7 relative (the VAE's
  // 793.57593 against 793.57605), latents within 3.1e-5.
  static final double LATENT_TOLERANCE = 1e-4;

  @TempDir Path dir;

  private Process start(Path config, Path runs, String... extra) throws Exception {
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dlatentlab.home=" + TestProject.home(), "-jar",
        TestProject.home().resolve("target").resolve("latentlab.jar").toString(),
        "run", config.toString(), "--runs-dir", runs.toString()));
    command.addAll(List.of(extra));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(dir.resolve(runs.getFileName() + ".log").toFile());
    builder.environment().put("XLA_FLAGS", FOUR_DEVICES);
    return builder.start();
  }

  private String log(Path runs) throws Exception {
    return Files.readString(dir.resolve(runs.getFileName() + ".log"));
  }

  private static Path trialDir(Path runs, String experiment) throws Exception {
    try (Stream<Path> found = Files.list(runs.resolve(experiment))) {
      return found.findFirst().orElseThrow();
    }
  }

  private static float[] latents(Path trial, BufferAllocator allocator) throws Exception {
    List<Map<String, Tensor>> batches = TensorFiles.map(trial.resolve("latents.arrow"), allocator);
    try (Tensor latents = batches.get(0).values().iterator().next()) {
      return latents.toFloatArray();
    }
  }

  @Test
  void run_twoProcessesOfTwoDevices_giveWhatOneProcessOfFourGives() throws Exception {
    Path config = dir.resolve("multi.yaml");
    Files.writeString(config, TestProject.tinyExperiment("multi", 7, 2, 4));
    Path two = dir.resolve("two-processes");
    Path one = dir.resolve("one-process");
    Process multi = start(config, two, "--processes", "2");
    assertTrue(multi.waitFor(300, TimeUnit.SECONDS), "the 2-process run ended");
    assertEquals(0, multi.exitValue(), log(two));
    Process single = start(config, one);
    assertTrue(single.waitFor(300, TimeUnit.SECONDS), "the 1-process run ended");
    assertEquals(0, single.exitValue(), log(one));

    Path a = trialDir(two, "multi");
    Path b = trialDir(one, "multi");
    assertEquals(b.getFileName(), a.getFileName(), "the process count is not part of the trial id");
    JsonNode ra = JSON.readTree(a.resolve("result.json").toFile());
    JsonNode rb = JSON.readTree(b.resolve("result.json").toFile());
    assertEquals(2, ra.at("/execution/processes").asInt(), ra.toString());
    assertEquals(4, ra.at("/execution/mesh/data").asInt(), ra.toString());
    assertTrue(rb.at("/execution/processes").isMissingNode(), rb.toString());
    assertEquals(4, rb.at("/execution/mesh/data").asInt(), rb.toString());
    assertEquals("an Arrow IPC file from process 0", ra.get("latents_handoff").asText());
    for (String metric : List.of("vae_final_loss", "unet_final_loss", "vae_heldout_psnr_db")) {
      double x = ra.at("/metrics/" + metric).asDouble();
      double y = rb.at("/metrics/" + metric).asDouble();
      assertEquals(y, x, 1e-5 * Math.abs(y), metric);
    }
    List<String> reportsA = Files.readAllLines(a.resolve("metrics.jsonl"));
    List<String> reportsB = Files.readAllLines(b.resolve("metrics.jsonl"));
    assertEquals(reportsB.size(), reportsA.size(), "process 0 alone reported each loss, once: " + reportsA);
    for (int i = 0; i < reportsA.size(); i++) {
      JsonNode x = JSON.readTree(reportsA.get(i));
      JsonNode y = JSON.readTree(reportsB.get(i));
      assertEquals(y.get("stage"), x.get("stage"));
      assertEquals(y.get("step"), x.get("step"));
      assertEquals(y.get("loss").asDouble(), x.get("loss").asDouble(), 1e-5 * Math.abs(y.get("loss").asDouble()));
    }
    try (BufferAllocator allocator = Allocators.aligned()) {
      float[] x = latents(a, allocator);
      float[] y = latents(b, allocator);
      assertEquals(y.length, x.length);
      double worst = 0;
      for (int i = 0; i < x.length; i++) {
        worst = Math.max(worst, Math.abs(x[i] - y[i]));
      }
      assertTrue(worst <= LATENT_TOLERANCE, "latents differ by " + worst);
    }
    assertTrue(Files.isRegularFile(a.resolve("logs").resolve("process-1.log")));
    JsonNode provenance = JSON.readTree(a.resolve("provenance.json").toFile());
    assertEquals("completed", provenance.get("status").asText(), provenance.toString());
  }

  @Test
  void run_aProcessKilled_failsTheRunInBoundedTimeNamingItAndLeavesNoProcess() throws Exception {
    Path config = dir.resolve("killed.yaml");
    Files.writeString(config, "name: killed\n" + TestProject.TINY_MODELS_AND_DATA + """
        train:
          vae: {steps: 100000, batch_size: 8}
        """);
    Path runs = dir.resolve("killed-runs");
    Process launcher = start(config, runs, "--processes", "2");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
    Optional<ProcessHandle> second = Optional.empty();
    while (second.isEmpty() || !Files.isRegularFile(runs.resolve("killed").resolve(
        trialId(runs)).resolve("metrics.jsonl"))) {
      assertTrue(launcher.isAlive(), "the run ended early: " + log(runs));
      assertTrue(System.nanoTime() < deadline, "no training step within 240 s: " + log(runs));
      Thread.sleep(100);
      second = launcher.descendants().filter(p -> p.info().commandLine()
          .map(c -> c.contains("latentlab.distributed") && c.contains("process-1.json"))
          .orElse(false)).findFirst();
    }
    List<ProcessHandle> ranks = launcher.descendants().filter(p -> p.info().commandLine()
        .map(c -> c.contains("latentlab.distributed")).orElse(false)).toList();
    assertEquals(2, ranks.size(), "one process per rank");
    second.get().destroyForcibly(); // SIGKILL: no clean-up, its peer is left in a collective
    // Bounded: the peer's heartbeat (20 s) or the launcher's grace (30 s) ends the other one.
    assertTrue(launcher.waitFor(120, TimeUnit.SECONDS), "the run did not end after a process died");
    assertEquals(1, launcher.exitValue(), log(runs));
    String out = log(runs);
    assertTrue(out.contains("run failed: process 1 of 2 failed (exit 137)"), out);
    assertTrue(out.contains("process-1.log"), "names its log: " + out);
    for (ProcessHandle rank : ranks) {
      assertFalse(rank.isAlive(), "a process was left behind: " + rank.pid());
    }
    Path trial = runs.resolve("killed").resolve(trialId(runs));
    JsonNode provenance = JSON.readTree(trial.resolve("provenance.json").toFile());
    assertEquals("failed", provenance.get("status").asText());
    assertTrue(provenance.get("error").asText().contains("process 1 of 2"), provenance.toString());
    assertFalse(Files.exists(trial.resolve("result.json")));
  }

  private static String trialId(Path runs) throws Exception {
    Path experiment = runs.resolve("killed");
    if (!Files.isDirectory(experiment)) {
      return "none-yet";
    }
    try (Stream<Path> found = Files.list(experiment)) {
      return found.map(p -> p.getFileName().toString()).filter(n -> n.matches("[0-9a-f]{12}"))
          .findFirst().orElse("none-yet");
    }
  }
}
