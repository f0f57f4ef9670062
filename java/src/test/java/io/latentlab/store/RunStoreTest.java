package io.latentlab.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.config.TrialId;
import io.latentlab.run.RunDirectory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real DuckDB over run directories written by the real RunDirectory. */
class RunStoreTest {
  @TempDir Path runs;

  /** Writes a run as ExperimentRunner lays it out; complete runs get result.json last. */
  private Path writeRun(String experiment, int index, String status, boolean complete) {
    TrialId id = TrialId.of("{\"name\":\"" + experiment + "\",\"i\":" + index + "}", 0);
    RunDirectory dir = RunDirectory.create(runs, experiment, id, "config.yaml",
        ("name: " + experiment + "\n").getBytes(StandardCharsets.UTF_8));
    dir.writeText("provenance.json", String.format("""
        {"experiment": "%s", "trial_id": "%s", "status": "%s",
         "started_at": "2026-11-26T10:%02d:00Z", "ended_at": null,
         "git": {"commit": "abcdef0123456789", "dirty": false}, "error": null}""",
        experiment, id.sha256(), status, index));
    dir.appendLine(RunDirectory.METRICS, "{\"stage\":\"vae\",\"step\":25,\"loss\":" + (50 + index) + "}");
    dir.appendLine(RunDirectory.METRICS, "{\"stage\":\"unet\",\"step\":25,\"loss\":0." + index + "}");
    if (complete) {
      dir.writeText(RunDirectory.RESULT, String.format("""
          {"experiment": "%s", "trial_id": "%s", "status": "completed",
           "metrics": {"vae_heldout_psnr_db": %d.5, "unet_final_loss": 0.1}}""",
          experiment, id.sha256(), 20 + index));
    }
    return dir.path();
  }

  @Test
  void runs_emptyOrMissingRoot_isAnEmptyTable() {
    try (RunStore store = RunStore.open(runs.resolve("nothing-here"))) {
      Table table = store.runs(null, null);
      assertEquals(0, table.rows().size());
      assertTrue(table.columns().containsAll(List.of("experiment", "trial", "status", "path")));
    }
  }

  @Test
  void runs_listsEveryRunWithItsStatus_andFilters() {
    writeRun("alpha", 1, "completed", true);
    writeRun("alpha", 2, "running", false);
    writeRun("beta", 3, "failed", false);
    try (RunStore store = RunStore.open(runs)) {
      Table all = store.runs(null, null);
      assertEquals(3, all.rows().size());
      int status = all.columns().indexOf("status");
      assertEquals(List.of("completed", "incomplete", "failed"),
          all.rows().stream().map(row -> row.get(status)).toList());
      assertEquals(21.5, (Double) all.rows().get(0).get(all.columns().indexOf("vae_psnr_db")));
      assertEquals(2, store.runs("alpha", null).rows().size());
      assertEquals(1, store.runs("alpha", "incomplete").rows().size());
      assertEquals(0, store.runs("gamma", null).rows().size());
    }
  }

  @Test
  void query_overMetricsAndResults() {
    writeRun("alpha", 1, "completed", true);
    writeRun("alpha", 2, "completed", true);
    try (RunStore store = RunStore.open(runs)) {
      Table table = store.query("SELECT stage, count(*) AS n, max(loss) AS worst FROM metrics GROUP BY stage ORDER BY stage");
      assertEquals(List.of("stage", "n", "worst"), table.columns());
      assertEquals(List.of(List.of("unet", 2L, 0.2), List.of("vae", 2L, 52.0)), table.rows());
      assertTrue(table.render().contains("vae    2  52.0000"), table.render());
    }
  }

  @Test
  void query_badSql_isOneLineError() {
    try (RunStore store = RunStore.open(runs)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> store.query("SELEC 1"));
      assertTrue(e.getMessage().contains("syntax error"), e.getMessage());
      assertTrue(!e.getMessage().contains("\n"));
    }
  }

  @Test
  void export_csvAndParquet_readBack() throws Exception {
    writeRun("alpha", 1, "completed", true);
    try (RunStore store = RunStore.open(runs)) {
      Path csv = runs.resolve("out").resolve("runs.csv");
      Path parquet = runs.resolve("out").resolve("runs.parquet");
      store.export("SELECT experiment, status FROM runs", csv, RunStore.Format.CSV);
      store.export("SELECT experiment, status FROM runs", parquet, RunStore.Format.PARQUET);
      assertEquals(List.of("experiment,status", "alpha,completed"), Files.readAllLines(csv));
      Table back = store.query("SELECT * FROM read_parquet('" + parquet + "')");
      assertEquals(List.of(List.of("alpha", "completed")), back.rows());
      assertEquals(List.of("runs.csv", "runs.parquet"),
          Files.list(csv.getParent()).map(p -> p.getFileName().toString()).sorted().toList());
    }
  }

  @Test
  void runs_whileAnotherThreadWritesRuns_neverFailsNorLosesARun() throws Exception {
    AtomicBoolean writing = new AtomicBoolean(true);
    AtomicReference<Throwable> writerFailure = new AtomicReference<>();
    Thread writer = new Thread(() -> {
      try {
        for (int i = 0; i < 40; i++) {
          writeRun("busy", i, "running", false);
          writeRun("busy", i, "completed", true); // same trial: finishes it
        }
      } catch (Throwable t) {
        writerFailure.set(t);
      } finally {
        writing.set(false);
      }
    });
    writer.start();
    long seen = 0;
    try (RunStore store = RunStore.open(runs)) {
      while (writing.get()) {
        long now = store.runs("busy", null).rows().size();
        assertTrue(now >= seen, "runs never disappear: " + seen + " then " + now);
        seen = now;
      }
      writer.join();
      assertEquals(null, writerFailure.get());
      assertEquals(40, store.runs("busy", "completed").rows().size());
    }
  }
}
