package io.latentlab.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.TrialState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code sweeps} view over trial state files written by the real {@link SweepDirectory},
 * laid out as the sweep package documents: {@code runs/sweeps/<name>-<hash>/trials/<trial>.json}.
 */
class SweepsViewTest {
  @TempDir Path runs;

  private SweepDirectory sweep(String folder) {
    return SweepDirectory.open(runs.resolve("sweeps").resolve(folder));
  }

  private static TrialState state(String sweep, String trial, int index, String kind, String state,
      Map<String, Object> axes, Map<String, Object> metrics) {
    return new TrialState(sweep, trial, index, kind, state,
        TrialState.FAILED.equals(state) ? "loss went NaN at step 12" : null, 1,
        Instant.parse("2026-11-26T10:00:00Z").plusMillis(index), axes, metrics, "/runs/mnist/" + trial);
  }

  /** Two samplers × two step counts, the last trial still pending. */
  private void writeSamplerSweep() {
    SweepDirectory dir = sweep("samplers-0123456789ab");
    String[] samplers = {"ddim", "euler"};
    int[] steps = {10, 50};
    int index = 0;
    for (String sampler : samplers) {
      for (int step : steps) {
        boolean done = index < 3;
        dir.writeState(state("samplers", "t" + index, index, "sampling",
            done ? TrialState.COMPLETED : TrialState.PENDING,
            Map.of("sampler", sampler, "steps", step),
            done ? Map.of("fid", 30.0 - index - step / 10.0, "nfe", step, "conditional_accuracy", 0.9)
                : Map.of()));
        index++;
      }
    }
  }

  private static Table query(Path runs, String sql) {
    try (RunStore store = RunStore.open(runs)) {
      return store.query(sql);
    }
  }

  @Test
  void sweeps_noSweeps_isEmptyWithTheFixedColumns() {
    Table table = query(runs, "SELECT * FROM sweeps");
    assertEquals(RunStore.SWEEP_COLUMNS, table.columns());
    assertEquals(0, table.rows().size());
  }

  @Test
  void sweeps_oneRowPerStateFile_withAColumnPerAxisAndMetric() {
    writeSamplerSweep();
    Table all = query(runs, "SELECT * FROM sweeps");
    assertEquals(4, all.rows().size());
    assertEquals(RunStore.SWEEP_COLUMNS, all.columns().subList(0, RunStore.SWEEP_COLUMNS.size()));
    assertTrue(all.columns().containsAll(List.of("sampler", "steps", "fid", "nfe", "conditional_accuracy")),
        all.columns().toString());

    Table table = query(runs,
        "SELECT sampler, steps, fid, nfe, state FROM sweeps WHERE sweep = 'samplers' ORDER BY sampler, steps");
    assertEquals(List.of(
        Arrays.asList("ddim", 10L, 29.0, 10.0, "completed"),
        Arrays.asList("ddim", 50L, 24.0, 50.0, "completed"),
        Arrays.asList("euler", 10L, 27.0, 10.0, "completed"),
        Arrays.asList("euler", 50L, null, null, "pending")), table.rows());
  }

  @Test
  void sweeps_fixedColumns_comeFromTheFile() {
    writeSamplerSweep();
    Table table = query(runs,
        "SELECT sweep, trial, kind, attempts, directory, typeof(updated_at), updated_at < TIMESTAMPTZ "
            + "'2026-11-26 10:00:01Z' FROM sweeps WHERE trial = 't1'");
    assertEquals(List.of(List.of("samplers", "t1", "sampling", 1L, "/runs/mnist/t1",
        "TIMESTAMP WITH TIME ZONE", true)), table.rows());
  }

  @Test
  void sweeps_twoSweeps_shareOneViewWithTheUnionOfColumns() {
    writeSamplerSweep();
    sweep("lr-aaaaaaaaaaaa").writeState(state("lr", "r0", 0, "training", TrialState.FAILED,
        Map.of("lr", 0.001), Map.of()));
    sweep("lr-aaaaaaaaaaaa").writeState(state("lr", "r1", 1, "training", TrialState.COMPLETED,
        Map.of("lr", 0.01), Map.of("unet_final_loss", 0.25)));
    Table table = query(runs, "SELECT trial, lr, unet_final_loss, error, sampler FROM sweeps WHERE sweep = 'lr'");
    assertEquals(List.of(
        Arrays.asList("r0", 0.001, null, "loss went NaN at step 12", null),
        Arrays.asList("r1", 0.01, 0.25, null, null)), table.rows());
    assertEquals(List.of(List.of(2L)), query(runs, "SELECT count(*) FROM sweeps WHERE sweep = 'lr'").rows());
  }

  @Test
  void sweeps_mixedValueTypes_widenToDoubleOrText() {
    SweepDirectory dir = sweep("mixed-aaaaaaaaaaaa");
    dir.writeState(state("mixed", "a", 0, "sampling", TrialState.COMPLETED,
        Map.of("scale", 1, "schedule", "cosine"), Map.of("fid", 3, "note", "x")));
    dir.writeState(state("mixed", "b", 1, "sampling", TrialState.COMPLETED,
        Map.of("scale", 2.5, "schedule", 7), Map.of("fid", 4.5, "note", 1)));
    Table table = query(runs, "SELECT scale, schedule, fid, note FROM sweeps ORDER BY trial");
    assertEquals(List.of(List.of(1.0, "cosine", 3.0, "x"), List.of(2.5, "7", 4.5, "1")), table.rows());
  }

  @Test
  void sweeps_axisOrMetricNamedLikeAnEarlierColumn_isPrefixed() {
    Map<String, Object> metrics = new HashMap<>();
    metrics.put("state", 1.0);
    metrics.put("sampler", 2.0);
    sweep("odd-aaaaaaaaaaaa").writeState(state("odd", "a", 0, "sampling", TrialState.COMPLETED,
        Map.of("sampler", "ddim", "Trial", "x"), metrics));
    Table table = query(runs, "SELECT state, sampler, axis_Trial, metric_state, metric_sampler FROM sweeps");
    assertEquals(List.of(List.of("completed", "ddim", "x", 1.0, 2.0)), table.rows());
  }

  @Test
  void sweeps_damagedStateFiles_areLeftOut_andTheOthersRead() throws Exception {
    writeSamplerSweep();
    Path trials = runs.resolve("sweeps/samplers-0123456789ab/trials");
    String whole = Files.readString(trials.resolve("t0.json"));
    Files.writeString(trials.resolve("t0.json"), whole.substring(0, whole.length() / 2));
    Files.writeString(trials.resolve("t1.json"), "[1, 2, 3]");
    Files.writeString(trials.resolve("t2.json"), whole.replaceFirst("\"axes\" : \\{", "\"axes\" : 5, \"x\" : {"));
    Table table = query(runs, "SELECT trial, sampler FROM sweeps");
    assertEquals(List.of(List.of("t3", "euler")), table.rows());
  }

  @Test
  void runs_sweepFolders_areNotRuns() {
    writeSamplerSweep();
    RunFixtures.writeRun(runs, "alpha", 1, "completed", true);
    try (RunStore store = RunStore.open(runs)) {
      assertEquals(1, store.runs(null, null).rows().size());
      assertEquals(List.of(List.of(4L)), store.query("SELECT count(*) FROM sweeps").rows());
    }
  }
}
