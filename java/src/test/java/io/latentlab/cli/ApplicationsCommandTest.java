package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.run.SamplerOptions;
import io.latentlab.run.SamplerSession;
import io.latentlab.tensor.Allocators;
import io.latentlab.tensor.Tensor;
import io.latentlab.testing.TestProject;
import java.util.Collections;
import java.util.SplittableRandom;
import org.apache.arrow.memory.BufferAllocator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code denoise} and {@code anomaly} on a real tiny run trained on digits 0 and 1 only. */
class ApplicationsCommandTest {
  @TempDir static Path dir;
  static Path run;

  @BeforeAll
  static void tinyRunOnTwoClasses() throws IOException {
    Path config = dir.resolve("tiny-apps.yaml");
    Files.writeString(config, TestProject.tinyExperiment("tiny-apps", 5, 2, 2)
        .replace("data: {limit: 256}", "data: {limit: 256, classes: [1, 0]}"));
    Cli.Outcome outcome = Cli.execute("run", config.toString(), "--runs-dir", dir.resolve("runs").toString());
    assertEquals(0, outcome.exitCode(), outcome.err());
    try (Stream<Path> found = Files.list(dir.resolve("runs").resolve("tiny-apps"))) {
      run = found.findFirst().orElseThrow();
    }
    assertTrue(Files.readString(run.resolve("config.yaml")).contains("classes:"));
  }

  private static List<Path> files(String kind) throws IOException {
    Path folder = run.resolve(kind);
    if (!Files.isDirectory(folder)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(folder)) {
      return files.sorted().toList();
    }
  }

  @Test
  void denoise_writesTableAndPicture_andReadsTheCompletedResultAgain() throws IOException {
    String[] args = {"denoise", run.toString(), "--noise-sigma", "0,0.3", "--heldout", "4",
        "--calibration", "4", "--steps", "2", "--average", "1"};
    Cli.Outcome outcome = Cli.execute(args);
    assertEquals(0, outcome.exitCode(), outcome.err());
    assertTrue(outcome.out().contains("| non-local means |"), outcome.out());
    List<Path> written = files("denoise");
    assertEquals(2, written.size(), written.toString()); // <id>.json and <id>.png
    Path json = written.stream().filter(p -> p.toString().endsWith(".json")).findFirst().orElseThrow();
    JsonNode result = new ObjectMapper().readTree(json.toFile());
    assertEquals(12, result.get("rows").size()); // 2 noise levels × 6 methods
    assertEquals(120.0, result.get("rows").get(0).get("psnr_db").asDouble(), 1e-6); // S = 0: the input
    FileTime before = Files.getLastModifiedTime(json);
    Cli.Outcome again = Cli.execute(args);
    assertEquals(0, again.exitCode(), again.err());
    assertTrue(again.out().contains("already done"), again.out());
    assertEquals(before, Files.getLastModifiedTime(json), "a completed result is never rewritten");
  }

  @Test
  void denoise_badOptions_oneLineExit2_nothingWritten() throws IOException {
    int before = files("denoise").size();
    for (String[] args : List.of(
        new String[] {"denoise", run.toString(), "--noise-sigma", "2"},
        new String[] {"denoise", run.toString(), "--noise-sigma", "0.1", "--heldout", "0"},
        new String[] {"denoise", run.toString(), "--noise-sigma", "0.1", "--images", "nowhere.npy"},
        new String[] {"denoise", run.toString(), "--noise-sigma", "0.1", "--sampler", "nope"},
        new String[] {"denoise", run.toString(), "--noise-sigma", "0.1", "--steps", "0"},
        new String[] {"denoise", run.toString()})) {
      Cli.Outcome outcome = Cli.execute(args);
      assertEquals(2, outcome.exitCode(), String.join(" ", args) + ": " + outcome.err());
      assertEquals(1, outcome.err().lines().count(), outcome.err());
    }
    assertEquals(before, files("denoise").size(), "nothing written");
  }

  @Test
  void anomaly_givesAnAurocPerScoreBesideTheBaseline_andAnRocPicture() throws IOException {
    Cli.Outcome outcome = Cli.execute("anomaly", run.toString(), "--per-group", "4",
        "--timesteps", "100,400", "--loss-timesteps", "2", "--steps", "2");
    assertEquals(0, outcome.exitCode(), outcome.err());
    assertTrue(outcome.out().contains("vae_reconstruction (baseline)"), outcome.out());
    List<Path> written = files("anomaly");
    assertEquals(2, written.size(), written.toString()); // <id>.json and <id>-roc.png
    Path json = written.stream().filter(p -> p.toString().endsWith(".json")).findFirst().orElseThrow();
    JsonNode result = new ObjectMapper().readTree(json.toFile());
    assertEquals(List.of(0, 1), new ObjectMapper().convertValue(result.get("normal_classes"), List.class));
    assertEquals(4, result.get("scores").size());
    for (JsonNode score : result.get("scores")) {
      double auroc = score.get("auroc").asDouble();
      assertTrue(auroc >= 0 && auroc <= 1, score.get("name") + ": " + auroc);
    }
    assertTrue(Files.size(written.stream().filter(p -> p.toString().endsWith("-roc.png")).findFirst()
        .orElseThrow()) > 1000);
    Cli.Outcome bad = Cli.execute("anomaly", run.toString(), "--timesteps", "5000");
    assertEquals(2, bad.exitCode(), bad.err());
    assertEquals(1, bad.err().lines().count(), bad.err());
  }

  @Test
  void inpaint_loopKeepsTheKnownLatentsExactly_andGeneratesTheRest_withAndWithoutResampling() {
    float[] plain = inpaintTiny(0);
    float[] resampled = inpaintTiny(2);
    int differ = 0;
    for (int i = 0; i < plain.length; i++) {
      differ += plain[i] != resampled[i] ? 1 : 0;
    }
    assertEquals(plain.length / 2, differ, "resampling changes every generated latent, no known one");
  }

  /** Inpaints the left half of two random latents on the tiny run; checks the known half is exact. */
  private static float[] inpaintTiny(int resample) {
    PythonBridge bridge = PythonBridge.start(TestProject.home());
    int batch = 2;
    int cell = 8 * 8 * 4; // one latent of the tiny run
    float[] known = new float[batch * cell];
    float[] cells = new float[cell];
    SplittableRandom values = new SplittableRandom(1);
    for (int i = 0; i < known.length; i++) {
      known[i] = (float) values.nextGaussian();
    }
    for (int i = 0; i < cell; i++) {
      cells[i] = (i / 4) % 8 < 4 ? 1f : 0f; // the left half of each row of cells is known
    }
    try (BufferAllocator memory = Allocators.aligned();
        SamplerSession session = SamplerSession.open(bridge, run,
            new SamplerOptions("ddim", 3, 0, Collections.nCopies(batch, 10), 0.0), memory, io.latentlab.bridge.ProgressListener.NONE)) {
      io.latentlab.lab.InpaintTask.repaint(session, memory, known, cells, resample, new SplittableRandom(2));
      assertEquals(3, session.stepsDone());
      try (Tensor latents = session.latents()) {
        float[] x = latents.toFloatArray();
        int generatedDiffer = 0;
        for (int i = 0; i < x.length; i++) {
          if (cells[i % cell] == 1f) {
            assertEquals(known[i], x[i], 0f, "known latent " + i + " (resample " + resample + ")");
          } else if (x[i] != known[i]) {
            generatedDiffer++;
          }
        }
        assertEquals(x.length / 2, generatedDiffer, "every unknown latent is generated");
        return x;
      }
    }
  }

  @Test
  void inpaint_cli_scoresTheCompletedDigits_badMaskExit2() throws IOException {
    Cli.Outcome outcome = Cli.execute("inpaint", run.toString(), "--mask", "left-half",
        "--heldout", "4", "--steps", "2");
    assertEquals(0, outcome.exitCode(), outcome.err());
    assertTrue(outcome.out().contains("classifier accuracy: original"), outcome.out());
    assertEquals(2, files("inpaint").size(), files("inpaint").toString());
    for (String[] args : List.of(new String[] {"--mask", "diagonal"},
        new String[] {"--mask", "center", "--resample", "-1"})) {
      List<String> line = new java.util.ArrayList<>(List.of("inpaint", run.toString()));
      line.addAll(List.of(args));
      Cli.Outcome bad = Cli.execute(line.toArray(String[]::new));
      assertEquals(2, bad.exitCode(), bad.err());
      assertEquals(1, bad.err().lines().count(), bad.err());
    }
    assertEquals(2, files("inpaint").size(), "a refused option writes nothing");
  }
}
