package io.latentlab.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

  private Path writeRun(String experiment, int index, String status, boolean complete) {
    return RunFixtures.writeRun(runs, experiment, index, status, complete);
  }

  private static List<Object> column(Table table, String name) {
    int index = table.columns().indexOf(name);
    assertTrue(index >= 0, name + " in " + table.columns());
    return table.rows().stream().map(row -> row.get(index)).toList();
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

  @Test
  void runs_truncatedResult_isCorruptNamingTheFile_andOtherRunsAndQueriesWork() throws Exception {
    writeRun("alpha", 1, "completed", true);
    Path bad = writeRun("alpha", 2, "completed", true);
    String result = Files.readString(bad.resolve("result.json"));
    Files.writeString(bad.resolve("result.json"), result.substring(0, result.length() / 2));
    try (RunStore store = RunStore.open(runs)) {
      Table all = store.runs(null, null);
      assertEquals(List.of("completed", "corrupt"), column(all, "status"));
      assertTrue(String.valueOf(column(all, "problem").get(1)).contains("result.json"), all.render());
      assertEquals(bad.toString(), column(all, "path").get(1));
      assertEquals(List.of(List.of(1L)), store.query("SELECT count(*) FROM results").rows());
      assertEquals(List.of(List.of(4L)), store.query("SELECT count(*) FROM metrics").rows());
    }
  }

  @Test
  void runs_garbageProvenance_isCorruptNamingTheFile_andOtherRunsAndQueriesWork() throws Exception {
    writeRun("alpha", 1, "completed", true);
    Path bad = writeRun("alpha", 2, "running", false);
    Files.writeString(bad.resolve("provenance.json"), "\u0000garbage{{");
    try (RunStore store = RunStore.open(runs)) {
      Table all = store.runs(null, null);
      assertEquals(List.of("completed", "corrupt"), column(all, "status"));
      assertEquals("alpha", column(all, "experiment").get(1));
      assertEquals(bad.getFileName().toString(), column(all, "trial").get(1));
      assertTrue(String.valueOf(column(all, "problem").get(1)).contains("provenance.json"), all.render());
      assertEquals(List.of(List.of(1L)), store.query("SELECT count(*) FROM provenance").rows());
      assertEquals(1, store.runs(null, "corrupt").rows().size());
    }
  }

  @Test
  void runs_garbageMetricsLine_isCorruptNamingTheFile_andOtherMetricsAreQueryable() throws Exception {
    writeRun("alpha", 1, "completed", true);
    Path bad = writeRun("alpha", 2, "completed", true);
    Files.writeString(bad.resolve("metrics.jsonl"), "{\"stage\":\"vae\",\"step\":1,\"loss\":1.0}\nnot json\n");
    try (RunStore store = RunStore.open(runs)) {
      Table all = store.runs(null, null);
      assertEquals(List.of("completed", "corrupt"), column(all, "status"));
      assertTrue(String.valueOf(column(all, "problem").get(1)).contains("metrics.jsonl line 2"), all.render());
      assertEquals(List.of(List.of(2L)), store.query("SELECT count(*) FROM metrics").rows());
    }
  }

  @Test
  void runs_metricsCutMidLineByAKill_isNotCorrupt_andTheCompleteLinesAreQueryable() throws Exception {
    Path killed = writeRun("alpha", 1, "running", false);
    Files.writeString(killed.resolve("metrics.jsonl"), "{\"stage\":\"vae\",\"step\":1}\n{\"stage\":\"va",
        java.nio.file.StandardOpenOption.APPEND);
    try (RunStore store = RunStore.open(runs)) {
      assertEquals(List.of("incomplete"), column(store.runs(null, null), "status"));
      assertEquals(List.of(List.of(3L)), store.query("SELECT count(*) FROM metrics").rows());
    }
  }

  @Test
  void runs_afterRerun_oneRowPerDirectory_liveRunIncomplete_replacedHiddenUnlessAsked() {
    Path first = writeRun("alpha", 1, "completed", true);
    Path kept = RunFixtures.rerun(runs, "alpha", 1);
    try (RunStore store = RunStore.open(runs)) {
      Table shown = store.runs(null, null);
      assertEquals(List.of("incomplete"), column(shown, "status"), shown.render());
      assertEquals(List.of(first.toString()), column(shown, "path"));
      Table all = store.runs(null, null, true);
      assertEquals(2, all.rows().size(), all.render());
      assertEquals(java.util.Set.of("incomplete", "replaced"), java.util.Set.copyOf(column(all, "status")));
      assertEquals(java.util.Set.of(first.toString(), kept.toString()), java.util.Set.copyOf(column(all, "path")));
      assertEquals(List.of(kept.toString()), column(store.runs(null, "replaced"), "path"));
      assertEquals(List.of(List.of(2L)), store.query("SELECT count(*) FROM runs").rows());
    }
  }

  @Test
  void query_writeStatement_isRefusedBeforeItRuns() throws Exception {
    Path run = writeRun("alpha", 1, "completed", true);
    String before = Files.readString(run.resolve("provenance.json"));
    try (RunStore store = RunStore.open(runs)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> store.query(
          "COPY (SELECT 'x') TO '" + run.resolve("provenance.json") + "' (FORMAT csv)"));
      assertTrue(e.getMessage().contains("read-only"), e.getMessage());
    }
    assertEquals(before, Files.readString(run.resolve("provenance.json")));
  }
}
