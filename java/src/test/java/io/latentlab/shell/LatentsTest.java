package io.latentlab.shell;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorFiles;
import io.latentlab.tensor.TensorScope;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** lab.latents(run): the latent cache a run recorded, opened as tensors (no Python needed). */
class LatentsTest {
  @TempDir
  Path dir;

  @Test
  void latents_opensTheRunsRecordedCache_andSaysWhenThereIsNone() throws Exception {
    Path home = dir.resolve("project");
    Path cache = home.resolve(".cache/latents/vae1-data2.arrow");
    Files.createDirectories(cache.getParent());
    float[] mean = {1, 2, 3, 4, 5, 6, 7, 8};
    float[] logvar = {-1, -2, -3, -4, -5, -6, -7, -8};
    try (TensorScope scope = TensorScope.root(); OutputStream out = Files.newOutputStream(cache)) {
      Map<String, Tensor> columns = new LinkedHashMap<>();
      columns.put("mean", scope.ofFloats(new long[] {2, 1, 2, 2}, mean));
      columns.put("log_var", scope.ofFloats(new long[] {2, 1, 2, 2}, logvar));
      TensorFiles.write(out, columns);
    }
    Path run = home.resolve("runs/emoji/0123456789ab");
    Files.createDirectories(run);
    Files.writeString(run.resolve("provenance.json"),
        "{\"experiment\": \"emoji\", \"trial_id\": \"0123456789abcdef\", \"status\": \"completed\"}");
    Files.writeString(run.resolve("result.json"), "{\"status\": \"completed\", \"metrics\": {\"latent_cache\": "
        + "{\"name\": \"vae1-data2.arrow\", \"path\": \"" + cache + "\"}}}");
    Path bare = home.resolve("runs/emoji/ba7e00000000");
    Files.createDirectories(bare);
    Files.writeString(bare.resolve("provenance.json"),
        "{\"experiment\": \"emoji\", \"trial_id\": \"ba7e00000000ff\", \"status\": \"completed\"}");

    try (Lab lab = Lab.open(home)) {
      lab.runsDir(home.resolve("runs").toString());
      Latents latents = lab.latents("0123456789ab");
      assertEquals(cache, latents.file());
      assertEquals(List.of("mean", "log_var"), latents.columns());
      assertEquals(2, latents.examples());
      assertArrayEquals(new long[] {2, 1, 2, 2}, latents.mean().shape());
      assertArrayEquals(mean, latents.mean().toFloatArray());
      assertArrayEquals(logvar, latents.logvar().toFloatArray());

      LabException none = assertThrows(LabException.class, () -> lab.latents("ba7e00000000"));
      assertTrue(none.getMessage().contains("records no latent cache"), none.getMessage());
      Files.delete(cache);
      LabException gone = assertThrows(LabException.class, () -> lab.latents("0123456789ab"));
      assertTrue(gone.getMessage().contains("the run's latent cache is gone"), gone.getMessage());
    }
  }
}
