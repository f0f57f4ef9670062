package io.latentlab.sweep.execute;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.ConfigException;
import io.latentlab.lab.ImportTask;
import io.latentlab.lab.SampleTask;
import io.latentlab.lab.SamplingOptions;
import io.latentlab.sweep.PromptTrials;
import io.latentlab.sweep.SweepLoader;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.SweepResults;
import io.latentlab.sweep.TrialState;
import io.latentlab.testing.TestProject;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A prompt sweep over the tiny random Stable Diffusion fixture, imported into a project folder
 * of the test's own: each trial is the sample command's request, so its pictures are the
 * folder {@code ./latentlab sample} reads back, and the report shows them a row per prompt.
 */
class PromptSweepTest {
  private static final Path FIXTURE = TestProject.home().resolve("python/tests/fixtures/sd-tiny/diffusers");

  @TempDir
  Path home;

  @Test
  void promptsByGuidance_eachTrialIsTheSampleCommandsRequest_reportedAsAPictureGrid() throws Exception {
    PythonBridge bridge = PythonBridge.start(TestProject.home());
    new ImportTask(home).run(new ImportTask.Request(FIXTURE, "tiny", null), ProgressListener.NONE);
    Path runs = home.resolve("runs");
    Path file = home.resolve("prompts.yaml");
    Files.writeString(file, """
        sweep: prompts
        model: tiny
        grid:
          sample.guidance_scale: [1.0, 7.5]
          sample.prompt: ["a red cat", "a blue dog"]
          sample.steps: [2]
          sample.size: [8]
        """);
    Sweep sweep = Sweep.load(file);
    SweepRunner runner = new SweepRunner(home, runs, bridge);
    SweepPlan plan = sweep.plan(runner);
    assertEquals("prompts", plan.kind());
    assertEquals(4, plan.trials().size());

    SweepResults results = sweep.run(runner, SweepExecutors.local(home, bridge));
    assertEquals(4, results.inState(TrialState.COMPLETED).size(), results.trials().toString());
    for (TrialState trial : results) { // each trial's own sampling time, from its result.json
      assertTrue(((Number) trial.metrics().get("sample_seconds")).doubleValue() > 0, trial.toString());
      assertEquals(1, ((Number) trial.metrics().get("images")).intValue(), trial.toString());
    }

    // A trial is the sample command's request: the same request by hand reads its folder back.
    SweepPlan.PlannedTrial catStrong = plan.trials().stream()
        .filter(t -> t.axes().get("sample.prompt").equals("a red cat")
            && ((Number) t.axes().get("sample.guidance_scale")).doubleValue() == 7.5)
        .findFirst().orElseThrow();
    SampleTask.Result byHand = new SampleTask(home, runs).run(new SampleTask.Request("tiny",
        List.of("a red cat"), "", 8, 1, new SamplingOptions(null, 2, null, null, 7.5, null), null,
        null, null, null), ProgressListener.NONE);
    assertTrue(byHand.completedEarlier(), "the sweep had sampled it");
    assertEquals(catStrong.directory(), byHand.folder());
    assertEquals(catStrong.trial(), byHand.folder().getFileName().toString());
    assertEquals(runs.resolve("samples/tiny"), byHand.folder().getParent());

    // Guidance reaches the sampler: the same prompt and seed at another scale, other pixels.
    SweepPlan.PlannedTrial catWeak = plan.trials().stream()
        .filter(t -> t.axes().get("sample.prompt").equals("a red cat") && t != catStrong)
        .findFirst().orElseThrow();
    byte[] strong = Files.readAllBytes(byHand.images().get(0));
    assertFalse(java.util.Arrays.equals(strong,
        Files.readAllBytes(catWeak.directory().resolve(byHand.images().get(0).getFileName()))));

    // The report: a picture per trial, a row per prompt and a column per guidance scale.
    Path plots = results.directory().resolve("plots");
    List<Path> pictures;
    try (Stream<Path> files = Files.list(plots)) {
      pictures = files.toList();
    }
    assertEquals(1, pictures.size(), pictures.toString());
    BufferedImage grid = ImageIO.read(pictures.get(0).toFile());
    Map<String, java.awt.Point> at = new java.util.HashMap<>();
    for (SweepPlan.PlannedTrial trial : plan.trials()) {
      BufferedImage cell = ImageIO.read(PromptTrials.preview(trial.directory()).toFile());
      at.put(trial.axes().get("sample.prompt") + " " + trial.axes().get("sample.guidance_scale"),
          find(grid, cell));
    }
    assertEquals(at.get("a red cat 1.0").y, at.get("a red cat 7.5").y, "one row per prompt: " + at);
    assertEquals(at.get("a blue dog 1.0").y, at.get("a blue dog 7.5").y, "one row per prompt: " + at);
    assertTrue(at.get("a red cat 1.0").y != at.get("a blue dog 1.0").y, at.toString());
    assertEquals(at.get("a red cat 1.0").x, at.get("a blue dog 1.0").x, "one column per scale: " + at);
    assertTrue(at.get("a red cat 1.0").x < at.get("a red cat 7.5").x, at.toString());
    String report = Files.readString(results.directory().resolve("report.md"));
    assertTrue(report.contains("- **kind:** prompts") && report.contains("- **model:** `tiny`"), report);

    // Again: every trial completed, nothing sampled anew.
    long written = Files.getLastModifiedTime(catStrong.directory().resolve(SampleTask.RESULT_FILE)).toMillis();
    SweepResults again = sweep.run(runner, SweepExecutors.local(home, bridge));
    assertEquals(4, again.inState(TrialState.COMPLETED).size());
    assertEquals(written, Files.getLastModifiedTime(catStrong.directory().resolve(SampleTask.RESULT_FILE)).toMillis());
    assertArrayEquals(strong, Files.readAllBytes(byHand.images().get(0)));

    // Bad sweeps: one line naming the file, the key and its position; nothing planned.
    Files.writeString(file, "sweep: p\nmodel: tiny\ngrid:\n  sample.prompt: [a]\n  train.seed: [1]\n");
    ConfigException axis = assertThrows(ConfigException.class, () -> new SweepLoader().load(file));
    assertTrue(axis.getMessage().matches(".*prompts\\.yaml:5:\\d+: grid\\.train\\.seed: a prompt sweep varies only sample\\.prompt, .*"),
        axis.getMessage());
    Files.writeString(file, "sweep: p\nmodel: tiny\ngrid:\n  sample.prompt: [a]\n  sample.steps: [0]\n");
    ConfigException steps = assertThrows(ConfigException.class, () -> Sweep.load(file).plan(runner));
    assertTrue(steps.getMessage().matches(".*prompts\\.yaml:5:\\d+: grid\\.sample\\.steps = 0: .*"), steps.getMessage());
    Files.writeString(file, "sweep: p\nmodel: nothing\ngrid:\n  sample.prompt: [a]\n");
    ConfigException model = assertThrows(ConfigException.class, () -> Sweep.load(file).plan(runner));
    assertTrue(model.getMessage().matches(".*prompts\\.yaml:2:\\d+: model: MODEL 'nothing': no imported model.*"),
        model.getMessage());
  }

  /** Where {@code cell} appears pixel for pixel in {@code grid} (its top-left corner). */
  private static java.awt.Point find(BufferedImage grid, BufferedImage cell) {
    for (int y = 0; y + cell.getHeight() <= grid.getHeight(); y++) {
      for (int x = 0; x + cell.getWidth() <= grid.getWidth(); x++) {
        if (matches(grid, cell, x, y)) {
          return new java.awt.Point(x, y);
        }
      }
    }
    throw new AssertionError("a trial's picture is not in the report's grid");
  }

  private static boolean matches(BufferedImage grid, BufferedImage cell, int x, int y) {
    for (int j = 0; j < cell.getHeight(); j++) {
      for (int i = 0; i < cell.getWidth(); i++) {
        if ((grid.getRGB(x + i, y + j) & 0xffffff) != (cell.getRGB(i, j) & 0xffffff)) {
          return false;
        }
      }
    }
    return true;
  }
}
