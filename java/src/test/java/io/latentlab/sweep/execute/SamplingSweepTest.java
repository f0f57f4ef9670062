package io.latentlab.sweep.execute;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.ConfigLoader;
import io.latentlab.run.RunResult;
import io.latentlab.run.TrialExecutor;
import io.latentlab.run.TrialPlanner;
import io.latentlab.sweep.SamplingTrials;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.SweepResults;
import io.latentlab.sweep.TrialState;
import io.latentlab.testing.TestProject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A sampling sweep over a really trained (tiny) run, from the Java API, in this JVM. */
class SamplingSweepTest {
  @TempDir static Path runs;
  static PythonBridge bridge;
  static RunResult run;

  @BeforeAll
  static void trainTinyModel() {
    bridge = PythonBridge.start(TestProject.home());
    run = TrialExecutor.inProcess(TestProject.home(), bridge).execute(
        new TrialPlanner(runs, bridge).plan(Path.of("tiny.yaml"),
            new ConfigLoader().parse("tiny.yaml", TestProject.tinyExperiment("sampled", 5, 2, 4)), 0),
        ProgressListener.NONE, false);
  }

  @Test
  void samplingSweep_scoresEveryCellCompilesOncePerSamplerAndStepsAndResumesForFree() throws Exception {
    Sweep sweep = Sweep.sampling("sampled").name("cells")
        .grid("sample.sampler", List.of("ddim", "heun"))
        .grid("sample.steps", List.of(2))
        .grid("sample.guidance_scale", List.of(1.0, 2.5))
        .evaluate(20).build();
    SweepRunner runner = new SweepRunner(TestProject.home(), runs, bridge);
    SweepPlan plan = sweep.plan(runner);
    assertEquals(4, plan.trials().size());
    assertEquals(List.of("sampler", "steps", "guidance_scale"), List.copyOf(plan.columns().values()));

    SweepResults results = sweep.run(runner, SweepExecutors.local(TestProject.home(), bridge));
    assertEquals(4, results.inState(TrialState.COMPLETED).size(), results.trials().toString());
    for (TrialState trial : results) {
      Path result = SamplingTrials.resultFile(run.directory(), trial.trial());
      assertTrue(Files.isRegularFile(result), "kept in the run's directory: " + result);
      assertTrue(Files.isRegularFile(SamplingTrials.previewFile(run.directory(), trial.trial())));
      double fid = ((Number) trial.metrics().get("fid")).doubleValue();
      assertTrue(fid > ((Number) trial.metrics().get("fid_floor")).doubleValue(), trial.toString());
      int steps = ((Number) trial.axes().get("steps")).intValue();
      int nfe = ((Number) trial.metrics().get("nfe")).intValue();
      assertEquals(trial.axes().get("sampler").equals("heun") ? 2 * steps - 1 : steps, nfe);
    }
    // Guidance is traced: only the two (sampler, steps) pairs compile.
    List<Long> compiles = results.trials().stream().map(t -> compilesOf(t)).toList();
    assertEquals(2, compiles.get(compiles.size() - 1) - compiles.get(0) + 1, compiles.toString());
    Set<Object> distinctScores = results.trials().stream().map(t -> t.metrics().get("fid"))
        .collect(Collectors.toSet());
    assertEquals(4, distinctScores.size(), "each cell sampled with its own settings");

    // Planned again: every trial is completed; running again samples nothing.
    assertTrue(runner.status(plan).stream().allMatch(r -> r.state().equals(TrialState.COMPLETED)));
    long modified = Files.getLastModifiedTime(
        SamplingTrials.resultFile(run.directory(), plan.trials().get(0).trial())).toMillis();
    SweepResults again = sweep.run(runner, SweepExecutors.local(TestProject.home(), bridge));
    assertEquals(4, again.inState(TrialState.COMPLETED).size());
    assertEquals(modified, Files.getLastModifiedTime(
        SamplingTrials.resultFile(run.directory(), plan.trials().get(0).trial())).toMillis());
    assertTrue(Files.isRegularFile(results.directory().resolve("report.md")));
    double lowest = again.trials().stream()
        .mapToDouble(t -> ((Number) t.metrics().get("fid")).doubleValue()).min().orElseThrow();
    assertEquals(lowest, ((Number) again.best("fid", true).orElseThrow().metrics().get("fid")).doubleValue());
  }

  @SuppressWarnings("unchecked")
  private static long compilesOf(TrialState trial) {
    try {
      Map<String, Object> result = new ObjectMapper().readValue(
          SamplingTrials.resultFile(run.directory(), trial.trial()).toFile(), Map.class);
      return ((Number) result.get("compiles")).longValue();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
