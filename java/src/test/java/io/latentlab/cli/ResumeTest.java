package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.testing.TestProject;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** A run killed with SIGKILL mid-training resumes from its last checkpoint when run again. */
class ResumeTest {
  // The U-Net trains well past its step-100 save, so the kill lands before the end.
  static final String CONFIG = "name: resume\nseed: 5\n" + TestProject.TINY_MODELS_AND_DATA + """
      train:
        vae: {steps: 20, batch_size: 8}
        unet: {steps: 400, batch_size: 8}
      sample: {steps: 3, num_samples: 4}
      """;

  @TempDir Path dir;

  private int runInProcess(Path config, Path runs) {
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(new StringWriter()));
    StringWriter err = new StringWriter();
    cli.setErr(new PrintWriter(err));
    int code = cli.execute("run", config.toString(), "--runs-dir", runs.toString());
    assertEquals(0, code, err.toString());
    return code;
  }

  private static Optional<Path> find(Path root, String name) throws IOException {
    return find(root, java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(name)));
  }

  private static Optional<Path> find(Path root, java.util.regex.Pattern name) throws IOException {
    if (!Files.isDirectory(root)) {
      return Optional.empty();
    }
    try (Stream<Path> files = Files.walk(root)) {
      return files.filter(p -> name.matcher(p.getFileName().toString()).matches()).findFirst();
    } catch (java.io.UncheckedIOException | java.nio.file.NoSuchFileException e) {
      return Optional.empty(); // the running process renamed a folder under the walk: look again
    }
  }

  @Test
  void run_killedDuringUnetTraining_resumesAndEndsBitwiseEqual() throws Exception {
    Path config = dir.resolve("resume.yaml");
    Files.writeString(config, CONFIG);
    Path jar = TestProject.home().resolve("target").resolve("latentlab.jar");
    assertTrue(Files.isRegularFile(jar), jar + " is missing: run ./latentlab test (it packages first)");

    Path killedRuns = dir.resolve("killed");
    Process process = new ProcessBuilder(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dlatentlab.home=" + TestProject.home(), "-jar", jar.toString(),
        "run", config.toString(), "--runs-dir", killedRuns.toString())
        .redirectErrorStream(true).redirectOutput(dir.resolve("killed.log").toFile()).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
    // A complete Orbax save of the U-Net stage (its temporary folders have other names).
    java.util.regex.Pattern unetSave = java.util.regex.Pattern.compile("unet-\\d{8}");
    while (find(killedRuns, unetSave).isEmpty()) {
      assertTrue(process.isAlive(), "the run ended before a U-Net checkpoint: " + Files.readString(dir.resolve("killed.log")));
      assertTrue(System.nanoTime() < deadline, "no U-Net checkpoint within 240 s");
      Thread.sleep(50);
    }
    process.destroyForcibly(); // SIGKILL: no shutdown hooks, no clean-up
    process.waitFor();
    assertTrue(find(killedRuns, "result.json").isEmpty(), "killed before completing");

    runInProcess(config, killedRuns); // resumes
    Path uninterruptedRuns = dir.resolve("uninterrupted");
    runInProcess(config, uninterruptedRuns);

    Path resumed = find(killedRuns, "result.json").orElseThrow().getParent();
    Path reference = find(uninterruptedRuns, "result.json").orElseThrow().getParent();
    ObjectMapper json = new ObjectMapper();
    JsonNode a = json.readTree(resumed.resolve("result.json").toFile());
    JsonNode b = json.readTree(reference.resolve("result.json").toFile());
    assertEquals(b.get("outputs"), a.get("outputs"), "samples.png and latents.arrow, byte for byte");
    assertEquals(b.at("/metrics/unet_final_loss"), a.at("/metrics/unet_final_loss"));
    assertEquals(Files.readString(reference.resolve("metrics.jsonl")),
        Files.readString(resumed.resolve("metrics.jsonl")), "the loss history is whole, with no repeats");
    assertFalse(Files.readString(resumed.resolve("metrics.jsonl")).isEmpty());
    assertTrue(a.at("/metrics/unet_resumed_from_step").asInt() >= 100, "it resumed: " + a.get("metrics"));
    assertEquals(20, a.at("/metrics/vae_resumed_from_step").asInt(), "the finished VAE stage was kept");
    assertEquals(0, b.at("/metrics/unet_resumed_from_step").asInt());
  }
}
