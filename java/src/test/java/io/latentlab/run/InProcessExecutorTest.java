package io.latentlab.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.config.TrialId;
import io.latentlab.testing.TestProject;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The in-process executor's argument checks (its runs are exercised by the CLI's tests). */
class InProcessExecutorTest {
  @Test
  void execute_nullProgress_refusedBeforeAnythingIsWritten(@TempDir Path runs) {
    ConfigLoader loader = new ConfigLoader();
    ExperimentConfig config = loader.parse("null.yaml", TestProject.tinyExperiment("null-progress", 1, 2, 2));
    String canonical = loader.canonicalJson(config);
    TrialId id = TrialId.of(canonical, 0);
    Trial trial = new Trial(Path.of("null.yaml"), config, canonical, id,
        RunDirectory.locate(runs, config.name(), id));
    // No Python is needed: the check comes before any call (the bridge is never touched).
    NullPointerException e = assertThrows(NullPointerException.class,
        () -> new InProcessExecutor(TestProject.home(), null, MlflowTracking.Parent.NONE)
            .execute(trial, null, false));
    assertEquals("progress: give ProgressListener.NONE for no progress reports", e.getMessage());
    assertFalse(Files.exists(trial.directory()), "nothing written");
  }
}
