package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.testing.TestProject;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code latentlab data}: a tiny image folder the test writes, end to end through Python. */
class DataCommandTest {
  @TempDir
  Path dir;

  @Test
  void data_imageFolder_printsFactsAndWritesAColourGridPerClass_badFileOneLineOrSkipped() throws Exception {
    Path images = dir.resolve("pets");
    for (String pet : List.of("cats", "dogs")) {
      Files.createDirectories(images.resolve(pet));
      for (int i = 0; i < (pet.equals("cats") ? 3 : 2); i++) {
        BufferedImage picture = new BufferedImage(10, 12, BufferedImage.TYPE_INT_RGB);
        var g = picture.createGraphics();
        g.setColor(pet.equals("cats") ? Color.RED : Color.BLUE);
        g.fillRect(0, 0, 10, 12);
        g.dispose();
        ImageIO.write(picture, "png", images.resolve(pet).resolve(i + ".png").toFile());
      }
    }
    Path config = dir.resolve("pets.yaml");
    Files.writeString(config, "name: pets\ndata: {dataset: image-folder, path: '" + images
        + "', resolution: 8}\ntrain: {vae: {batch_size: 2}, unet: {batch_size: 2}}\n");
    Path out = dir.resolve("preview");

    Cli.Outcome outcome = Cli.execute("data", config.toString(), "--out", out.toString());
    assertEquals(0, outcome.exitCode(), outcome.err());
    String text = outcome.out();
    assertTrue(text.contains("data:        image-folder at " + images), text);
    assertTrue(text.contains("examples:    5 (held out for evaluation: 0; skipped: 0)"), text);
    assertTrue(text.contains("images:      8×8, 3 channels (RGB)"), text);
    assertTrue(text.matches("(?s).*fingerprint: [0-9a-f]{8,}.*"), text);
    assertTrue(text.contains("classes:     2\n") && text.contains("    0  cats  3") && text.contains("    1  dogs  2"), text);
    List<Path> grids;
    try (var list = Files.list(out)) {
      grids = list.filter(p -> p.toString().endsWith(".png")).sorted().toList();
    }
    assertEquals(2, grids.size(), grids.toString());
    grids.forEach(grid -> assertTrue(text.contains("  " + grid), text));
    BufferedImage cats = ImageIO.read(grids.get(0).toFile());
    assertEquals(3, cats.getColorModel().getNumColorComponents(), "a colour grid");
    assertEquals(0xFF0000, cats.getRGB(2 + 4, 2 + 4) & 0xFFFFFF, "the cats are red");

    // A broken file: refused in one line naming it (exit 2), or skipped and counted.
    Path broken = images.resolve("dogs").resolve("broken.png");
    Files.write(broken, new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
    Cli.Outcome refused = Cli.execute("data", config.toString(), "--out", out.toString());
    assertEquals(2, refused.exitCode(), refused.out() + refused.err());
    assertEquals(1, refused.err().strip().lines().count(), refused.err());
    assertTrue(refused.err().contains("broken.png"), refused.err());
    Cli.Outcome skipped = Cli.execute("data", config.toString(), "data.on_error=skip", "--out", out.toString());
    assertEquals(0, skipped.exitCode(), skipped.err());
    assertTrue(skipped.out().contains("examples:    5 (held out for evaluation: 0; skipped: 1)"), skipped.out());
    assertFalse(skipped.out().equals(text));
  }

  @Test
  void data_digits_defaultFolderInTheProject() throws Exception {
    Path previews = TestProject.home().resolve(".cache/data-preview/quickstart");
    if (Files.exists(previews)) { // an earlier run's grids must not pass for this one's
      try (var walk = Files.walk(previews)) {
        for (Path path : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.delete(path);
        }
      }
    }
    Cli.Outcome outcome = Cli.execute("data", TestProject.home().resolve("experiments/quickstart.yaml").toString());
    assertEquals(0, outcome.exitCode(), outcome.err());
    assertTrue(outcome.out().contains("examples:    10000 (held out for evaluation: 1000; skipped: 0)"), outcome.out());
    assertTrue(outcome.out().contains("images:      32×32, 1 channel (grey)"), outcome.out());
    Path grid = TestProject.home().resolve(".cache/data-preview/quickstart/grid-009-9.png");
    assertTrue(outcome.out().contains("  " + grid + "\n"), outcome.out());
    assertTrue(Files.isRegularFile(grid), "the grids are where the command says");
  }
}
