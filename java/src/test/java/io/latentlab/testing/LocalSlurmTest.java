package io.latentlab.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The fixture itself: a real cluster runs a real job array, then leaves nothing behind. */
class LocalSlurmTest {
  @Test
  void start_runsThrottledJobArray(@TempDir Path out) throws Exception {
    Path folder;
    try (LocalSlurm slurm = LocalSlurm.start()) {
      folder = slurm.folder();
      ProcessBuilder sbatch = new ProcessBuilder("sbatch", "--parsable", "--array=0-3%2",
          "--output=" + out.resolve("slurm-%A_%a.log"),
          "--wrap", "echo $SLURM_ARRAY_TASK_ID > " + out + "/task-$SLURM_ARRAY_TASK_ID")
          .redirectErrorStream(true);
      sbatch.environment().putAll(slurm.environment());
      Process submit = sbatch.start();
      String jobId = new String(submit.getInputStream().readAllBytes(), StandardCharsets.UTF_8)
          .strip();
      assertEquals(0, submit.waitFor(), jobId);
      assertTrue(jobId.matches("\\d+"), jobId);

      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (!allWritten(out) && System.nanoTime() < deadline) {
        Thread.sleep(200);
      }
      for (int task = 0; task < 4; task++) {
        Path file = out.resolve("task-" + task);
        assertTrue(Files.exists(file), "task " + task + " wrote nothing:\n" + slurm.logTails());
        assertEquals(String.valueOf(task), Files.readString(file).strip());
      }
    }
    assertFalse(Files.exists(folder), "close() leaves " + folder);
  }

  private static boolean allWritten(Path out) {
    for (int task = 0; task < 4; task++) {
      try {
        if (Files.readString(out.resolve("task-" + task)).isBlank()) {
          return false;
        }
      } catch (java.io.IOException e) {
        return false;
      }
    }
    return true;
  }
}
