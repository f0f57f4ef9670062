package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.testing.TestProject;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code latentlab sample}: the tiny random Stable Diffusion fixture (python/tests/fixtures/sd-tiny)
 * imported into a project folder of the test's own, then sampled from two prompts through the
 * real bridge and JAX: the PNGs and result.json are where the command says, the same request is
 * read back (not rewritten), another seed gives other bytes, and bad requests are one line, exit 2,
 * nothing written.
 */
class SampleCommandTest {
  private static final Path FIXTURES = TestProject.home().resolve("python/tests/fixtures/sd-tiny");
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path home;

  private String before;

  @BeforeEach
  void useTheTestsProject() {
    PythonBridge.start(TestProject.home()); // the JVM's one interpreter; models and runs go under `home`
    before = System.getProperty("latentlab.home");
    System.setProperty("latentlab.home", home.toString());
    Cli.Outcome imported = Cli.execute("import", FIXTURES.resolve("diffusers").toString(), "--name", "tiny");
    assertEquals(0, imported.exitCode(), imported.err());
  }

  @AfterEach
  void restoreHome() {
    if (before == null) {
      System.clearProperty("latentlab.home");
    } else {
      System.setProperty("latentlab.home", before);
    }
  }

  @Test
  void sample_twoPrompts_writesImagesAndResult_sameRequestIsReused_otherSeedDiffers() throws Exception {
    String[] args = {"sample", "tiny", "--prompt", "a red cat", "--prompt", "a blue dog", "-n", "2",
        "--size", "8", "--steps", "2", "--sampler", "euler_ancestral", "--seed", "3"};
    Cli.Outcome first = Cli.execute(args);
    assertEquals(0, first.exitCode(), first.err());
    Path folder = printed(first.out(), "result").getParent();
    assertTrue(folder.startsWith(home.resolve("runs/samples/tiny")), first.out());
    assertTrue(folder.getFileName().toString().matches("[0-9a-f]{12}"), folder.toString());
    assertEquals(folder.resolve("images.png"), printed(first.out(), "grid"));
    List<Path> images = List.of(folder.resolve("image-000.png"), folder.resolve("image-001.png"),
        folder.resolve("image-002.png"), folder.resolve("image-003.png"));
    for (Path image : images) {
      assertTrue(first.out().contains(image.toString()), first.out());
      BufferedImage read = ImageIO.read(image.toFile());
      assertEquals(8, read.getWidth());
      assertEquals(8, read.getHeight());
    }
    assertTrue(first.out().contains(images.get(2) + "  \"a blue dog\""), first.out());

    JsonNode result = JSON.readTree(folder.resolve("result.json").toFile());
    String weights = JSON.readTree(home.resolve("models/tiny/sd_model.json").toFile()).get("weights_sha256").asText();
    assertEquals(weights, result.get("weights_sha256").asText());
    assertTrue(first.out().contains("weights sha256 " + weights), first.out());
    JsonNode request = result.get("request");
    assertEquals(List.of("a red cat", "a blue dog"), JSON.convertValue(request.get("prompts"), List.class));
    assertEquals("euler_ancestral", request.get("sampler").asText());
    assertEquals(2, request.get("steps").asInt());
    assertEquals(3, request.get("seed").asInt());
    assertEquals(7.5, request.get("guidance_scale").asDouble());
    assertEquals(1.0, request.get("eta").asDouble(), "the sampler's own η, filled in");
    assertEquals("leading", request.get("spacing").asText(), "the model's scheduler's spacing");
    assertEquals("", request.get("negative_prompt").asText());
    assertEquals(2, request.get("num_images").asInt());

    byte[] bytes = Files.readAllBytes(images.get(0));
    FileTime written = Files.getLastModifiedTime(folder.resolve("result.json"));
    Cli.Outcome again = Cli.execute(args);
    assertEquals(0, again.exitCode(), again.err());
    assertTrue(again.out().startsWith("already done with these settings"), again.out());
    assertEquals(folder, printed(again.out(), "result").getParent());
    assertEquals(written, Files.getLastModifiedTime(folder.resolve("result.json")), "not rewritten");
    assertArrayEquals(bytes, Files.readAllBytes(images.get(0)));

    args[args.length - 1] = "4";
    Cli.Outcome otherSeed = Cli.execute(args);
    assertEquals(0, otherSeed.exitCode(), otherSeed.err());
    Path otherFolder = printed(otherSeed.out(), "result").getParent();
    assertNotEquals(folder, otherFolder);
    assertFalse(java.util.Arrays.equals(bytes, Files.readAllBytes(otherFolder.resolve("image-000.png"))),
        "another seed, other pixels");
  }

  @Test
  void sample_fromAnInitImage_recordsItsHashAndStrength_anotherImageIsAnotherFolder() throws Exception {
    Path picture = home.resolve("start.png");
    BufferedImage gradient = new BufferedImage(12, 8, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 8; y++) {
      for (int x = 0; x < 12; x++) {
        gradient.setRGB(x, y, (x * 20) << 16 | (y * 30) << 8 | 255 - x * 20);
      }
    }
    ImageIO.write(gradient, "png", picture.toFile());
    String[] args = {"sample", "tiny", "--prompt", "a red cat", "--size", "8", "--steps", "4",
        "--init-image", picture.toString(), "--strength", "0.5"};
    Cli.Outcome first = Cli.execute(args);
    assertEquals(0, first.exitCode(), first.err());
    assertTrue(first.out().contains("from:    " + picture + " (sha256 "), first.out());
    assertTrue(first.out().contains("strength 0.5: the last 2 of 4 steps"), first.out());
    Path folder = printed(first.out(), "result").getParent();
    JsonNode request = JSON.readTree(folder.resolve("result.json").toFile()).get("request");
    assertEquals(picture.toString(), request.get("init_image").asText());
    assertEquals(0.5, request.get("strength").asDouble());
    assertEquals(64, request.get("init_image_sha256").asText().length());

    Path mask = home.resolve("mask.png");
    BufferedImage half = new BufferedImage(12, 8, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 8; y++) {
      for (int x = 6; x < 12; x++) {
        half.getRaster().setSample(x, y, 0, 255);
      }
    }
    ImageIO.write(half, "png", mask.toFile());
    Cli.Outcome inpainted = Cli.execute("sample", "tiny", "--prompt", "a red cat", "--size", "8", "--steps", "4",
        "--init-image", picture.toString(), "--mask", mask.toString());
    assertEquals(0, inpainted.exitCode(), inpainted.err());
    assertTrue(inpainted.out().contains("strength 1.0: the last 4 of 4 steps"), inpainted.out());
    assertTrue(inpainted.out().contains("mask:    " + mask + " (sha256 "), inpainted.out());

    gradient.setRGB(0, 0, 0xffffff);
    ImageIO.write(gradient, "png", picture.toFile());
    Cli.Outcome changed = Cli.execute(args);
    assertEquals(0, changed.exitCode(), changed.err());
    assertNotEquals(folder, printed(changed.out(), "result").getParent(),
        "the same path with other pixels is another request, not the completed one");
  }

  @Test
  void sample_badRequests_exitTwoInOneLine_writeNothing() throws Exception {
    assertRefused(Cli.execute("sample", "tiny", "--prompt", "a cat", "--size", "10"),
        "--size: 10 pixels does not fit this model: its VAE downsamples by 2 and its U-Net by 2 more, "
            + "so the size must be a multiple of 4 (this model's own: 16)");
    assertRefused(Cli.execute("sample", "tiny", "--prompt", "a cat", "--sampler", "dpm"),
        "--sampler: unknown value 'dpm'; allowed: ddpm, ddim, ");
    assertRefused(Cli.execute("sample", "tiny", "--prompt", "a cat", "--steps", "0"), "--steps: must be >= 1, got 0");
    assertRefused(Cli.execute("sample", "tiny", "--prompt", "a cat", "--guidance", "101"),
        "--guidance: must be in [0, 100");
    assertRefused(Cli.execute("sample", "tiny"), "Missing required option: '--prompt=TEXT'");
    assertRefused(Cli.execute("sample", "tiny", "--prompt", "a cat", "--out", "/elsewhere"),
        "--out: /elsewhere must be inside the project or the runs folder");
    assertRefused(Cli.execute("sample", "tiny", "--prompt", "a cat", "--strength", "0.5"),
        "--strength: only with an init image (--init-image FILE); remove it");
    assertRefused(Cli.execute("sample", "tiny", "--prompt", "a cat", "--init-image", home.resolve("none.png").toString()),
        "--init-image: no file at " + home.resolve("none.png"));
    assertRefused(Cli.execute("sample", "sd15", "--prompt", "a cat"),
        "MODEL 'sd15': no imported model of that name or folder in the project; imported: tiny");
    assertFalse(Files.exists(home.resolve("runs")), "nothing written");
  }

  private static void assertRefused(Cli.Outcome outcome, String message) {
    assertEquals(2, outcome.exitCode(), outcome.out() + outcome.err());
    assertEquals(1, outcome.err().strip().lines().count(), outcome.err());
    assertTrue(outcome.err().contains(message), outcome.err());
    assertEquals("", outcome.out());
  }

  /** The path the output prints after {@code label:}. */
  private static Path printed(String out, String label) {
    Matcher m = Pattern.compile("(?m)^" + label + ": +(\\S+)").matcher(out);
    assertTrue(m.find(), label + " not printed: " + out);
    return Path.of(m.group(1));
  }
}
