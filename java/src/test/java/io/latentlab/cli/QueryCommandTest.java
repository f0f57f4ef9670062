package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.store.RunFixtures;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code query} over real run files with the real DuckDB: reads run files, nothing else. */
class QueryCommandTest {
  @TempDir Path dir;
  Path runs;
  Path run;

  record Outcome(int exitCode, String out, String err) {}

  Outcome query(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));
    String[] all = new String[args.length + 3];
    all[0] = "query";
    System.arraycopy(args, 0, all, 1, args.length);
    all[args.length + 1] = "--runs-dir";
    all[args.length + 2] = runs.toString();
    return new Outcome(cli.execute(all), out.toString(), err.toString());
  }

  /** Exit 2, one line on stderr saying why, nothing on stdout. */
  static void assertRefused(Outcome outcome, String why) {
    assertRefused(outcome);
    assertTrue(outcome.err().contains(why), outcome.err());
  }

  static void assertRefused(Outcome outcome) {
    assertEquals(2, outcome.exitCode(), outcome.out() + outcome.err());
    assertEquals(1, outcome.err().lines().count(), outcome.err());
    assertTrue(outcome.err().startsWith("query: "), outcome.err());
    assertEquals("", outcome.out());
  }

  @BeforeEach
  void oneRun() {
    runs = dir.resolve("runs");
    run = RunFixtures.writeRun(runs, "alpha", 1, "completed", true);
  }

  @Test
  void query_readCsvOfAFileOutsideTheRuns_isRefused() throws Exception {
    Path secret = dir.resolve("secret.csv");
    Files.writeString(secret, "word\nTOPSECRET\n");
    Outcome outcome = query("SELECT * FROM read_csv('" + secret + "')");
    assertRefused(outcome, "Permission Error");
    assertFalse(outcome.err().contains("TOPSECRET"));
    assertRefused(query("SELECT * FROM read_csv('/etc/passwd')"), "Permission Error");
  }

  @Test
  void query_pathEscapingTheRunsWithDotDot_isRefused() throws Exception {
    Files.writeString(dir.resolve("secret.txt"), "TOPSECRET");
    assertRefused(query("SELECT * FROM read_text('" + runs + "/alpha/../../secret.txt')"), "Permission Error");
  }

  @Test
  void query_copyOverARunFile_isRefused_andTheFileIsUnchanged() throws Exception {
    Path provenance = run.resolve("provenance.json");
    String before = Files.readString(provenance);
    assertRefused(query("COPY (SELECT 'x') TO '" + provenance + "' (FORMAT csv)"), "read-only");
    assertRefused(query("SELECT 1; COPY (SELECT 'x') TO '" + provenance + "' (FORMAT csv)"));
    assertEquals(before, Files.readString(provenance));
  }

  @Test
  void query_attach_isRefused_andCreatesNoFile() {
    Path db = dir.resolve("made.db");
    assertRefused(query("ATTACH '" + db + "' AS made"), "read-only");
    Path inRuns = runs.resolve("made.db");
    assertRefused(query("ATTACH '" + inRuns + "' AS made"), "read-only");
    assertFalse(Files.exists(db));
    assertFalse(Files.exists(inRuns));
  }

  @Test
  void query_installExtension_isRefused() {
    assertRefused(query("INSTALL httpfs"), "read-only");
    assertRefused(query("LOAD httpfs"), "read-only");
  }

  @Test
  void query_settingsCannotBeChanged() {
    assertRefused(query("SET enable_external_access = true"), "read-only");
    Outcome settings = query("SELECT name, value FROM duckdb_settings() "
        + "WHERE name IN ('enable_external_access', 'lock_configuration') ORDER BY name");
    assertEquals(0, settings.exitCode(), settings.err());
    assertTrue(settings.out().matches("(?s).*enable_external_access\\s+false.*lock_configuration\\s+true.*"),
        settings.out());
  }

  @Test
  void query_overEveryView_works() {
    for (String sql : List.of(
        "SELECT experiment, status FROM runs",
        "SELECT experiment, status FROM provenance",
        "SELECT experiment FROM results",
        "SELECT stage, loss FROM metrics")) {
      Outcome outcome = query(sql);
      assertEquals(0, outcome.exitCode(), sql + ": " + outcome.err());
      assertTrue(outcome.out().contains("alpha") || outcome.out().contains("unet"), outcome.out());
    }
  }

  @Test
  void query_readOnlyStatementForms_work() {
    for (String sql : List.of("FROM runs", "VALUES (1, 'a')", "WITH r AS (SELECT * FROM runs) SELECT count(*) FROM r",
        "SHOW runs", "DESCRIBE metrics", "SUMMARIZE metrics", "EXPLAIN SELECT * FROM runs",
        "SELECT * FROM read_json_auto('" + run.resolve("result.json") + "')")) {
      Outcome outcome = query(sql);
      assertEquals(0, outcome.exitCode(), sql + ": " + outcome.err());
    }
  }

  @Test
  void query_badSql_isOneLineUsageError() {
    Outcome outcome = query("SELEC 1");
    assertRefused(outcome);
    assertTrue(outcome.err().contains("syntax error"), outcome.err());
  }

  @Test
  void query_csvAndParquetExports_areWrittenByJava_outsideTheRuns() throws Exception {
    Path csv = dir.resolve("out").resolve("runs.csv");
    Path parquet = dir.resolve("out").resolve("runs.parquet");
    assertEquals(0, query("SELECT experiment, status FROM runs", "--csv", csv.toString()).exitCode());
    assertEquals(0, query("SELECT experiment, status FROM runs", "--parquet", parquet.toString()).exitCode());
    assertEquals(List.of("experiment,status", "alpha,completed"), Files.readAllLines(csv));
    try (Connection connection = DriverManager.getConnection("jdbc:duckdb:");
        Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery("SELECT experiment, status FROM read_parquet('" + parquet + "')")) {
      assertTrue(rows.next());
      assertEquals("alpha", rows.getString(1));
      assertEquals("completed", rows.getString(2));
    }
  }

  @Test
  void query_exportOfAWriteStatement_isRefused_andWritesNothing() throws Exception {
    Path csv = dir.resolve("out").resolve("x.csv");
    Path elsewhere = dir.resolve("elsewhere.csv");
    assertRefused(query("SELECT 1) TO '" + elsewhere + "' (FORMAT csv); SELECT (1", "--csv", csv.toString()));
    assertRefused(query("COPY (SELECT 1) TO '" + elsewhere + "'", "--csv", csv.toString()), "read-only");
    assertFalse(Files.exists(csv));
    assertFalse(Files.exists(elsewhere));
  }
}
