package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.testing.TestProject;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code latentlab import}: the tiny random Stable Diffusion fixture (python/tests/fixtures/sd-tiny,
 * made by scripts/sd_fixtures) imported from its diffusers folder and from its single-file
 * checkpoint into a project folder of the test's own; the same weights get the same hash, an
 * import is never overwritten, a pickle checkpoint is refused.
 */
class ImportCommandTest {
  private static final Path FIXTURES = TestProject.home().resolve("python/tests/fixtures/sd-tiny");

  @TempDir
  Path home;

  @Test
  void import_folderAndSingleFile_sameHash_neverOverwritten_pickleRefused() throws Exception {
    PythonBridge.start(TestProject.home()); // the JVM's one interpreter; models go under `home`
    String before = System.getProperty("latentlab.home");
    System.setProperty("latentlab.home", home.toString());
    try {
      Path folder = FIXTURES.resolve("diffusers");
      Cli.Outcome first = Cli.execute("import", folder.toString(), "--name", "tiny");
      assertEquals(0, first.exitCode(), first.err());
      assertTrue(first.out().contains("model:       tiny\n"), first.out());
      assertTrue(first.out().contains("folder:      " + home.resolve("models/tiny")), first.out());
      assertTrue(first.out().matches("(?s).*unet +UNet2DConditionModel +[\\d,]+ parameters.*"), first.out());
      assertTrue(first.out().matches("(?s).*text_encoder +CLIPTextModel +[\\d,]+ parameters.*"), first.out());
      assertTrue(Files.isRegularFile(home.resolve("models/tiny/sd_model.json")));
      String hash = sha(first.out());

      Cli.Outcome single = Cli.execute("import", FIXTURES.resolve("tiny-ldm.safetensors").toString(),
          "--config", folder.toString());
      assertEquals(0, single.exitCode(), single.err());
      assertTrue(single.out().contains("model:       tiny-ldm\n"), "named after the file: " + single.out());
      assertEquals(hash, sha(single.out()), "the single file holds the same weights");

      Cli.Outcome again = Cli.execute("import", folder.toString(), "--name", "tiny");
      assertEquals(0, again.exitCode(), again.err());
      assertTrue(again.out().contains("(already imported; nothing written)"), again.out());

      Cli.Outcome other = Cli.execute("import", FIXTURES.resolve("unet-sd2").toString(), "--name", "tiny");
      assertEquals(2, other.exitCode(), other.out());
      assertTrue(other.err().contains("is already imported under the name 'tiny'; choose another name"),
          other.err());
      assertEquals(1, other.err().strip().lines().count(), other.err());

      Path pickle = Files.writeString(home.resolve("model.ckpt"), "not read");
      Cli.Outcome refused = Cli.execute("import", pickle.toString());
      assertEquals(2, refused.exitCode(), refused.out());
      assertEquals(1, refused.err().strip().lines().count(), refused.err());
      assertTrue(refused.err().contains("model.ckpt") && refused.err().contains("safetensors"), refused.err());
      assertFalse(Files.exists(home.resolve("models/model")), "nothing written");
    } finally {
      if (before == null) {
        System.clearProperty("latentlab.home");
      } else {
        System.setProperty("latentlab.home", before);
      }
    }
  }

  private static String sha(String out) {
    return out.lines().filter(l -> l.startsWith("weights:")).findFirst().orElseThrow()
        .replace("weights:     sha256 ", "");
  }
}
