package io.latentlab.shell;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.testing.TestProject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * lab.importModel and lab.model(name).sample(prompts): the tiny random Stable Diffusion fixture
 * imported into a project folder of the test's own and sampled through the real bridge, with
 * the same request giving what {@code ./latentlab sample} gives (one lab layer under both).
 */
class TextModelTest {
  private static final Path FIXTURE = TestProject.home().resolve("python/tests/fixtures/sd-tiny/diffusers");

  @TempDir
  Path home;

  @Test
  void importAndSample_promptsToPictures_theSettingsTheCommandTakes_oneLineErrors() throws Exception {
    PythonBridge.start(TestProject.home()); // the JVM's one interpreter, from the project's venv
    PrintStream original = System.out;
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
    try (Lab lab = Lab.open(home)) {
      assertEquals(List.of(), lab.models());
      LabException unknown = assertThrows(LabException.class, () -> lab.model("tiny"));
      assertTrue(unknown.getMessage().startsWith("MODEL 'tiny': no imported model of that name"),
          unknown.getMessage());

      var imported = lab.importModel(FIXTURE.toString(), "tiny");
      assertEquals(home.resolve("models/tiny"), imported.folder());
      assertEquals(List.of("tiny"), lab.models());

      TextModel model = lab.model("tiny").size(8).steps(2).sampler("euler_ancestral").seed(3).images(2);
      assertEquals("model tiny: euler_ancestral, 2 steps, guidance 7.5, seed 3; call sample(\"a prompt\")",
          model.toString());
      TextSamples samples = model.sample("a red cat", "a blue dog");
      assertEquals(4, samples.images().size());
      assertTrue(samples.folder().startsWith(home.resolve("runs/samples/tiny")), samples.folder().toString());
      assertEquals(List.of("a red cat", "a blue dog"),
          List.of(samples.json().at("/request/prompts/0").asText(), samples.json().at("/request/prompts/1").asText()));
      assertEquals(imported.weightsSha256(), samples.json().get("weights_sha256").asText());
      BufferedImage one = samples.picture(2);
      assertEquals(8, one.getWidth());
      assertTrue(samples.picture().getWidth() >= 2 * 8, "the grid holds them all");
      assertEquals("4 images of tiny in " + samples.folder(), samples.toString());

      // The same request reads the same files back; another seed samples other pixels.
      byte[] first = Files.readAllBytes(samples.images().get(0));
      TextSamples again = lab.model("tiny").size(8).steps(2).sampler("euler_ancestral").seed(3).images(2)
          .sample("a red cat", "a blue dog");
      assertTrue(again.completedEarlier());
      assertEquals(samples.folder(), again.folder());
      TextSamples other = model.seed(4).sample("a red cat", "a blue dog");
      assertFalse(java.util.Arrays.equals(first, Files.readAllBytes(other.images().get(0))));
      assertArrayEquals(first, Files.readAllBytes(samples.images().get(0)), "completed samples stay");

      LabException steps = assertThrows(LabException.class, () -> lab.model("tiny").steps(0));
      assertEquals("--steps: must be >= 1, got 0", steps.getMessage());
      LabException size = assertThrows(LabException.class, () -> lab.model("tiny").size(10).sample("a cat"));
      assertTrue(size.getMessage().startsWith("sample: --size: 10 pixels does not fit this model"),
          size.getMessage());
      LabException none = assertThrows(LabException.class, () -> lab.model("tiny").sample());
      assertEquals("--prompt: give at least one prompt", none.getMessage());
    } finally {
      System.setOut(original);
    }
    String text = printed.toString(StandardCharsets.UTF_8);
    assertTrue(text.contains("model:       tiny"), "the import is printed: " + text);
    assertTrue(text.contains("\"a blue dog\""), "the samples are printed: " + text);
  }
}
