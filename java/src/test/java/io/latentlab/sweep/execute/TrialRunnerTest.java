package io.latentlab.sweep.execute;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.latentlab.sweep.SweepPlan;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How a sweep's trial runs where it lands: over the Slurm tasks of its array task. */
class TrialRunnerTest {
  private static final SweepPlan.PlannedTrial TRIAL = new SweepPlan.PlannedTrial(0, "0123456789ab",
      Map.of("seed", 1), List.of("seed=1"), 0, Path.of("runs/x/0123456789ab"));

  @Test
  void overridesHere_anArrayTaskOfSeveralSlurmTasks_runsTheTrialOverThem() {
    assertEquals(List.of("seed=1", "execution.processes=4"), TrialRunner.overridesHere(TRIAL,
        Map.of("SLURM_ARRAY_TASK_ID", "0", "SLURM_NTASKS", "4")));
    assertEquals(List.of("seed=1"), TrialRunner.overridesHere(TRIAL,
        Map.of("SLURM_ARRAY_TASK_ID", "0", "SLURM_NTASKS", "1")), "one task: one process");
    assertEquals(List.of("seed=1"), TrialRunner.overridesHere(TRIAL, Map.of("SLURM_NTASKS", "4")),
        "not an array task of a sweep");
    assertEquals(List.of("seed=1"), TrialRunner.overridesHere(TRIAL, Map.of()), "not under Slurm");
  }
}
