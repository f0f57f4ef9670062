package io.latentlab.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.ConfigLoader;
import io.latentlab.testing.TestProject;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Trial ids of real configs, resolved by Python as a run resolves them. */
class TrialPlannerTest {
  private static TrialPlanner planner;
  private static final Path QUICKSTART = TestProject.home().resolve("experiments/quickstart.yaml");

  @BeforeAll
  static void startPython() {
    planner = new TrialPlanner(TestProject.home().resolve("runs"), PythonBridge.start(TestProject.home()));
  }

  private static String shortId(String... overrides) {
    return planner.plan(QUICKSTART, new ConfigLoader().load(QUICKSTART, List.of(overrides)), 0).id().shortId();
  }

  @Test
  void plan_quickstart_keepsTheTrialIdItHadBeforeTheExecutionSection() {
    // README, docs/quickstart-samples.png and runs on disk name this trial.
    assertEquals("f11618248513", shortId());
  }

  @Test
  void plan_devicesAndMesh_sameTrial_precision_anotherTrial() {
    assertEquals("f11618248513", shortId("execution.devices=4", "execution.mesh.data=4"));
    assertEquals("f11618248513", shortId("execution.precision=float32"));
    assertNotEquals("f11618248513", shortId("execution.precision=bfloat16"));
  }
}
