package io.latentlab.store;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Queries over the run directories under a runs root, with DuckDB reading the run files
 * themselves: there is no second copy of the truth. Each query sees the files as they are at
 * that moment; runs write atomically, so a query never sees half a file, and a run still
 * going shows as {@code incomplete} (it has provenance.json but no result.json).
 *
 * <p>Views: {@code provenance} (one row per provenance.json), {@code results} (result.json),
 * {@code metrics} (every line of every metrics.jsonl, with the file it came from) and
 * {@code runs} (one row per run folder: experiment, trial, status, times, git, key metrics,
 * problem, path) and {@code sweeps} (one row per sweep trial state file,
 * {@code sweeps/<sweep>/trials/<trial>.json}: see {@link #SWEEP_COLUMNS}). A status is one of {@link #STATUSES}: a {@code corrupt} run has a damaged file,
 * named in {@code problem} and left out of the other views so that every other run still reads;
 * a {@code replaced} run is an earlier run that {@code run --rerun} kept aside. A damaged trial
 * state file is left out of {@code sweeps}.
 *
 * <p>The store is read-only and confined: SQL reads files under the runs root and nowhere else,
 * and only queries run (SELECT, WITH, FROM, VALUES, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN). Exports
 * are written by {@link #export}, not by the SQL.
 *
 * <p>One store per thread; close it when done.
 */
public final class RunStore implements AutoCloseable {
  /** Every status a run can have in the {@code runs} view. */
  public static final List<String> STATUSES =
      List.of("completed", "incomplete", "failed", "corrupt", "replaced");

  /**
   * The {@code sweeps} view's fixed columns. After them come one column per axis column name
   * found in the state files' {@code axes} (integers as BIGINT, other numbers as DOUBLE,
   * booleans as BOOLEAN, anything else or a mix as VARCHAR), then one per metric name in
   * {@code metrics} (numbers as DOUBLE, booleans as BOOLEAN, anything else as VARCHAR). An axis
   * or metric named like an earlier column is prefixed {@code axis_} or {@code metric_}.
   * Rows are in sweep then plan order.
   */
  public static final List<String> SWEEP_COLUMNS =
      List.of("sweep", "trial", "kind", "state", "error", "attempts", "updated_at", "directory");

  private static final String READ_ONLY = "the store is read-only: only queries run here "
      + "(SELECT, WITH, FROM, VALUES, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN); "
      + "write results with --csv or --parquet";
  private static final Pattern EXPLAIN =
      Pattern.compile("\\s*EXPLAIN(\\s+ANALY[SZ]E)?\\s+(.*)", Pattern.CASE_INSENSITIVE | Pattern.DOTALL);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path runsRoot;
  private final Connection connection;
  private final RunFiles files;
  private final TrialStateFiles trialStates;

  private RunStore(Path runsRoot, Connection connection) {
    this.runsRoot = runsRoot;
    this.connection = connection;
    this.files = new RunFiles(runsRoot);
    this.trialStates = new TrialStateFiles(runsRoot);
  }

  /**
   * Opens an in-memory DuckDB over a runs root (which may not exist yet: then every view is
   * empty).
   */
  public static RunStore open(Path runsRoot) {
    Path root = runsRoot.toAbsolutePath().normalize();
    try {
      return new RunStore(root, confined(root, null));
    } catch (SQLException e) {
      throw new IllegalStateException("cannot start DuckDB: " + firstLine(e), e);
    }
  }

  /**
   * An in-memory DuckDB that may read files under the runs root and write only {@code writable}
   * (null for nothing), with its settings locked so SQL cannot undo that.
   *
   * <p>Why allowed_directories rather than materializing: views over read_json are bound when
   * they are queried, not when they are created, so with external access off and nothing
   * allowed, every query of a view fails with a Permission Error. Reading the runs root on each
   * query keeps the store current without a second copy. allowed_directories also lets DuckDB
   * write there, which is why every statement is checked to be a query ({@link #requireQuery}).
   */
  private static Connection confined(Path root, Path writable) throws SQLException {
    Connection connection = DriverManager.getConnection("jdbc:duckdb:");
    try (Statement statement = connection.createStatement()) {
      // Nothing is fetched or loaded from outside: the JSON and Parquet readers are built in.
      statement.execute("SET autoinstall_known_extensions = false");
      statement.execute("SET autoload_known_extensions = false");
      // DuckDB allows its spill folder (./.tmp) once external access is off; spilling is not
      // needed for run files, so there is none.
      statement.execute("SET temp_directory = ''");
      // The trailing separator stops /runs from also allowing /runs-old.
      statement.execute("SET allowed_directories = [" + literal(root + java.io.File.separator) + "]");
      if (writable != null) {
        statement.execute("SET allowed_paths = [" + literal(writable.toString()) + "]");
      }
      statement.execute("SET enable_external_access = false");
      statement.execute("SET lock_configuration = true");
    } catch (SQLException e) {
      connection.close();
      throw e;
    }
    return connection;
  }

  /** A SQL string literal. */
  private static String literal(String text) {
    return text == null ? "NULL" : "'" + text.replace("'", "''") + "'";
  }

  private static String literal(Path path) {
    return path == null ? "NULL" : literal(path.toString());
  }

  private static String fileList(List<Path> files) {
    return "[" + String.join(", ", files.stream().map(RunStore::literal).toList()) + "]";
  }

  /** Defines the views over the files as they are now; returns what it read. */
  private List<RunFiles.Folder> defineViews(Connection on) throws SQLException {
    List<RunFiles.Folder> folders = files.scan();
    List<Path> provenance = folders.stream().map(RunFiles.Folder::provenance).filter(Objects::nonNull).toList();
    List<Path> results = folders.stream().map(RunFiles.Folder::result).filter(Objects::nonNull).toList();
    List<Path> metrics = folders.stream().map(RunFiles.Folder::metrics).filter(Objects::nonNull).toList();
    try (Statement statement = on.createStatement()) {
      statement.execute("CREATE OR REPLACE TEMP VIEW provenance AS " + (provenance.isEmpty()
          ? "SELECT NULL::VARCHAR AS experiment, NULL::VARCHAR AS trial_id, "
              + "NULL::VARCHAR AS status, NULL::VARCHAR AS started_at, "
              + "NULL::VARCHAR AS ended_at, NULL::JSON AS git, NULL::VARCHAR AS error, "
              + "NULL::VARCHAR AS filename WHERE false"
          : "SELECT * FROM read_json_auto(" + fileList(provenance) + ", filename = true, union_by_name = true)"));
      statement.execute("CREATE OR REPLACE TEMP VIEW results AS " + (results.isEmpty()
          ? "SELECT NULL::VARCHAR AS experiment, NULL::VARCHAR AS trial_id, NULL::JSON AS metrics, "
              + "NULL::VARCHAR AS filename WHERE false"
          : "SELECT * FROM read_json_auto(" + fileList(results) + ", filename = true, union_by_name = true)"));
      // ignore_errors turns the unfinished last line of a file being appended to (RunFiles
      // checked every complete line) into a row of NULLs, which the WHERE drops.
      statement.execute("CREATE OR REPLACE TEMP VIEW metrics AS " + (metrics.isEmpty()
          ? "SELECT NULL::VARCHAR AS stage, NULL::BIGINT AS step, NULL::DOUBLE AS loss, "
              + "NULL::VARCHAR AS filename WHERE false"
          : "SELECT * FROM read_json_auto(" + fileList(metrics) + ", filename = true, union_by_name = true, "
              + "format = 'newline_delimited', ignore_errors = true) "
              + "WHERE concat_ws('|', *COLUMNS(* EXCLUDE (filename)), 'x') <> 'x'"));
      statement.execute(runsView(folders, provenance, results));
      statement.execute(sweepsView(trialStates.scan()));
    }
    return folders;
  }

  /**
   * The sweeps view. DuckDB reads the fixed fields with fixed types and {@code axes} and
   * {@code metrics} as JSON; each axis and metric column is taken out of those by JSON Pointer
   * (any key can be written as one) and cast with TRY_CAST, so a file written after the scan
   * with a value of another type reads as NULL there instead of failing the query.
   */
  private static String sweepsView(TrialStateFiles.Scan scan) {
    List<String> select = new ArrayList<>(List.of(
        "sweep", "trial", "kind", "state", "error", "attempts",
        "TRY_CAST(updated_at AS TIMESTAMPTZ) AS updated_at", "directory"));
    Set<String> taken = new HashSet<>();
    SWEEP_COLUMNS.forEach(name -> taken.add(name.toLowerCase(Locale.ROOT)));
    scan.axes().forEach((name, type) ->
        select.add(extract("axes", name, type, false) + " AS " + identifier(unique("axis_", name, taken))));
    scan.metrics().forEach((name, type) ->
        select.add(extract("metrics", name, type, true) + " AS " + identifier(unique("metric_", name, taken))));
    if (scan.files().isEmpty()) {
      return "CREATE OR REPLACE TEMP VIEW sweeps AS SELECT NULL::VARCHAR AS sweep, NULL::VARCHAR AS trial, "
          + "NULL::VARCHAR AS kind, NULL::VARCHAR AS state, NULL::VARCHAR AS error, NULL::BIGINT AS attempts, "
          + "NULL::TIMESTAMPTZ AS updated_at, NULL::VARCHAR AS directory WHERE false";
    }
    return "CREATE OR REPLACE TEMP VIEW sweeps AS SELECT " + String.join(", ", select)
        + " FROM read_json(" + fileList(scan.files()) + ", filename = true, columns = {"
        + "sweep: 'VARCHAR', trial: 'VARCHAR', \"index\": 'BIGINT', kind: 'VARCHAR', state: 'VARCHAR', "
        + "error: 'VARCHAR', attempts: 'BIGINT', updated_at: 'VARCHAR', directory: 'VARCHAR', "
        + "axes: 'JSON', metrics: 'JSON'}) ORDER BY sweep, \"index\", filename";
  }

  /** A column name not yet taken (DuckDB's names ignore case): the name, or prefixed, or numbered. */
  private static String unique(String prefix, String name, Set<String> taken) {
    String candidate = taken.contains(name.toLowerCase(Locale.ROOT)) ? prefix + name : name;
    for (int n = 2; taken.contains(candidate.toLowerCase(Locale.ROOT)); n++) {
      candidate = prefix + name + "_" + n;
    }
    taken.add(candidate.toLowerCase(Locale.ROOT));
    return candidate;
  }

  /** One member of a JSON column, as SQL of its column type (metrics: every number is DOUBLE). */
  private static String extract(String column, String key, TrialStateFiles.ColumnType type, boolean metric) {
    String pointer = literal("/" + key.replace("~", "~0").replace("/", "~1"));
    if (type == null || type == TrialStateFiles.ColumnType.VARCHAR) {
      return "json_extract_string(" + column + ", " + pointer + ")";
    }
    String sqlType = metric && type == TrialStateFiles.ColumnType.BIGINT ? "DOUBLE" : type.name();
    return "TRY_CAST(json_extract(" + column + ", " + pointer + ") AS " + sqlType + ")";
  }

  /** A SQL identifier, quoted. */
  private static String identifier(String name) {
    return "\"" + name.replace("\"", "\"\"") + "\"";
  }

  /**
   * The runs view: one row per folder, joined to its own provenance.json and result.json by file
   * (not by trial id, which a rerun and the run it replaced share). It reads the few fields it
   * shows with fixed types, so an odd but valid file cannot break it.
   */
  private static String runsView(List<RunFiles.Folder> folders, List<Path> provenance, List<Path> results) {
    String folderRows = folders.isEmpty()
        ? "SELECT NULL::VARCHAR AS experiment, NULL::VARCHAR AS trial, NULL::VARCHAR AS path, "
            + "NULL::BOOLEAN AS replaced, NULL::VARCHAR AS provenance_file, NULL::VARCHAR AS result_file, "
            + "NULL::VARCHAR AS problem, NULL::VARCHAR AS mlflow_run_id WHERE false"
        : "SELECT * FROM (VALUES " + String.join(", ", folders.stream().map(f -> "("
            + literal(f.experiment()) + ", " + literal(f.trial()) + ", " + literal(f.path()) + ", "
            + f.replaced() + ", " + literal(f.provenance()) + ", " + literal(f.result()) + ", "
            + literal(f.problem()) + ", " + literal(f.mlflowRunId()) + ")").toList())
            + ") AS f(experiment, trial, path, replaced, provenance_file, result_file, problem, "
            + "mlflow_run_id)";
    String provenanceRows = provenance.isEmpty()
        ? "SELECT NULL::VARCHAR AS experiment, NULL::VARCHAR AS status, NULL::VARCHAR AS started_at, "
            + "NULL::VARCHAR AS ended_at, NULL::JSON AS git, NULL::VARCHAR AS filename WHERE false"
        : "SELECT * FROM read_json(" + fileList(provenance) + ", filename = true, columns = {"
            + "experiment: 'VARCHAR', status: 'VARCHAR', started_at: 'VARCHAR', ended_at: 'VARCHAR', git: 'JSON'})";
    String resultRows = results.isEmpty()
        ? "SELECT NULL::JSON AS metrics, NULL::VARCHAR AS filename WHERE false"
        : "SELECT * FROM read_json(" + fileList(results) + ", filename = true, columns = {metrics: 'JSON'})";
    return """
        CREATE OR REPLACE TEMP VIEW runs AS
        SELECT coalesce(p.experiment, f.experiment) AS experiment,
               f.trial,
               CASE WHEN f.replaced THEN 'replaced'
                    WHEN f.problem IS NOT NULL THEN 'corrupt'
                    WHEN r.filename IS NOT NULL THEN 'completed'
                    WHEN p.status = 'running' THEN 'incomplete'
                    ELSE p.status END AS status,
               p.started_at,
               p.ended_at,
               substr(json_extract_string(p.git, '$.commit'), 1, 10) AS git_commit,
               json_extract_string(p.git, '$.dirty') = 'true' AS git_dirty,
               TRY_CAST(json_extract(r.metrics, '$.vae_heldout_psnr_db') AS DOUBLE) AS vae_psnr_db,
               TRY_CAST(json_extract(r.metrics, '$.unet_final_loss') AS DOUBLE) AS unet_loss,
               f.problem,
               f.path,
               f.mlflow_run_id
        FROM (%s) f
        LEFT JOIN (%s) p ON p.filename = f.provenance_file
        LEFT JOIN (%s) r ON r.filename = f.result_file
        ORDER BY p.started_at, f.path
        """.formatted(folderRows, provenanceRows, resultRows);
  }

  /** A step that reads the views. */
  private interface Read<T> {
    T run() throws SQLException;
  }

  /**
   * Defines the views and reads them. A rerun may move a folder aside between the scan and the
   * read; DuckDB then fails on a file that is gone, and a fresh scan sees the new layout.
   */
  private <T> T withViews(Connection on, Read<T> read) throws SQLException {
    for (int attempt = 1; ; attempt++) {
      List<RunFiles.Folder> folders = defineViews(on);
      try {
        return read.run();
      } catch (SQLException e) {
        boolean moved = folders.stream().anyMatch(f -> !Files.isDirectory(f.path()));
        if (!moved || attempt == 3) {
          throw e;
        }
      }
    }
  }

  /**
   * One row per run, oldest first, without the runs that a rerun replaced.
   *
   * @param experiment only this experiment, or null for all
   * @param status only runs with this status (one of {@link #STATUSES}), or null for all
   */
  public Table runs(String experiment, String status) {
    return runs(experiment, status, false);
  }

  /**
   * One row per run, oldest first.
   *
   * @param experiment only this experiment, or null for all
   * @param status only runs with this status (one of {@link #STATUSES}), or null for all
   * @param includeReplaced also the earlier runs that {@code run --rerun} kept aside (status
   *     {@code replaced}); asking for that status includes them too
   */
  public Table runs(String experiment, String status, boolean includeReplaced) {
    StringBuilder sql = new StringBuilder("SELECT * FROM runs WHERE true");
    List<String> args = new ArrayList<>();
    if (experiment != null) {
      sql.append(" AND experiment = ?");
      args.add(experiment);
    }
    if (status != null) {
      sql.append(" AND status = ?");
      args.add(status);
    } else if (!includeReplaced) {
      sql.append(" AND status IS DISTINCT FROM 'replaced'");
    }
    try {
      return withViews(connection, () -> {
        try (var statement = connection.prepareStatement(sql.toString())) {
          for (int i = 0; i < args.size(); i++) {
            statement.setString(i + 1, args.get(i));
          }
          try (ResultSet rows = statement.executeQuery()) {
            return read(rows);
          }
        }
      });
    } catch (SQLException e) {
      throw new IllegalStateException("query over " + runsRoot + " failed: " + firstLine(e), e);
    }
  }

  /**
   * Runs one query over the views.
   *
   * @throws IllegalArgumentException with a one-line reason if the SQL is wrong, is not a query
   *     (the store is read-only), or reads a file outside the runs root
   */
  public Table query(String sql) {
    requireQuery(connection, sql);
    try {
      return withViews(connection, () -> {
        try (Statement statement = connection.createStatement();
            ResultSet rows = statement.executeQuery(sql)) {
          return read(rows);
        }
      });
    } catch (SQLException e) {
      throw new IllegalArgumentException(reason(e), e);
    }
  }

  /**
   * Refuses anything but a single query, using DuckDB's own parser: json_serialize_sql
   * serializes SELECT statements only (which SHOW, DESCRIBE, SUMMARIZE, VALUES and FROM-first
   * queries parse into) and fails on every other kind, without running anything.
   *
   * @throws IllegalArgumentException saying why, in one line
   */
  private static void requireQuery(Connection on, String sql) {
    JsonNode parsed;
    try (PreparedStatement statement = on.prepareStatement("SELECT json_serialize_sql(?::VARCHAR)")) {
      statement.setString(1, sql);
      try (ResultSet row = statement.executeQuery()) {
        row.next();
        parsed = JSON.readTree(row.getString(1));
      }
    } catch (SQLException | JsonProcessingException e) {
      throw new IllegalStateException("cannot parse the query with DuckDB: " + e.getMessage(), e);
    }
    if (parsed.path("error").asBoolean()) {
      if ("parser".equals(parsed.path("error_type").asText())) {
        throw new IllegalArgumentException("Parser Error: " + parsed.path("error_message").asText());
      }
      // EXPLAIN is not serializable; what it explains must be a query, and then so is it.
      Matcher explain = EXPLAIN.matcher(sql);
      if (explain.matches()) {
        requireQuery(on, explain.group(2));
        return;
      }
      throw new IllegalArgumentException(READ_ONLY);
    }
    int statements = parsed.path("statements").size();
    if (statements != 1) {
      throw new IllegalArgumentException(statements == 0 ? "no query given"
          : "one query at a time (this is " + statements + " statements)");
    }
  }

  /** Export formats. */
  public enum Format { CSV, PARQUET }

  /**
   * Writes a query's result to a file, atomically (a temporary file, then a rename). Only this
   * method writes: it runs the query in a DuckDB allowed to write that one temporary file.
   *
   * @throws IllegalArgumentException with a one-line reason if the SQL is wrong or not a query;
   *     nothing is written then
   */
  public void export(String sql, Path file, Format format) {
    Path target = file.toAbsolutePath().normalize();
    Path temp = target.resolveSibling("." + target.getFileName() + ".tmp");
    try (Connection exporting = confined(runsRoot, temp)) {
      requireQuery(exporting, sql);
      Files.createDirectories(target.getParent());
      withViews(exporting, () -> {
        try (Statement statement = exporting.createStatement()) {
          // The query was checked to be one whole statement; the line breaks keep a trailing
          // comment in it from swallowing the rest of the COPY.
          statement.execute("COPY (\n" + sql + "\n) TO " + literal(temp) + " (FORMAT "
              + (format == Format.CSV ? "csv, HEADER true" : "parquet") + ")");
        }
        return null;
      });
      Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (SQLException e) {
      throw new IllegalArgumentException(reason(e), e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + target, e);
    } finally {
      try {
        Files.deleteIfExists(temp);
      } catch (IOException ignored) {
        // nothing to clean up
      }
    }
  }

  /** DuckDB's one-line reason, saying where files may be read if that was the problem. */
  private String reason(SQLException e) {
    String line = firstLine(e);
    return line.startsWith("Permission Error")
        ? line + " (queries read only the files under " + runsRoot + ")" : line;
  }

  private static Table read(ResultSet rows) throws SQLException {
    ResultSetMetaData meta = rows.getMetaData();
    List<String> columns = new ArrayList<>();
    for (int i = 1; i <= meta.getColumnCount(); i++) {
      columns.add(meta.getColumnLabel(i));
    }
    List<List<Object>> out = new ArrayList<>();
    while (rows.next()) {
      List<Object> row = new ArrayList<>();
      for (int i = 1; i <= columns.size(); i++) {
        Object value = rows.getObject(i);
        if (value instanceof Float f) {
          value = f.doubleValue();
        } else if (value instanceof Integer n) {
          value = n.longValue();
        } else if (value != null && !(value instanceof String || value instanceof Long
            || value instanceof Double || value instanceof Boolean)) {
          value = value.toString();
        }
        row.add(value);
      }
      out.add(row);
    }
    return new Table(columns, out);
  }

  /** DuckDB's own one-line reason: JDBC may wrap it in a generic first line. */
  private static String firstLine(SQLException e) {
    String message = e.getMessage() == null ? "query failed" : e.getMessage().strip();
    List<String> lines = message.lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    for (String line : lines) {
      if (line.startsWith("Error: ")) {
        return line.substring("Error: ".length());
      }
    }
    return lines.isEmpty() ? message : lines.get(0);
  }

  @Override
  public void close() {
    try {
      connection.close();
    } catch (SQLException e) {
      throw new IllegalStateException("cannot close DuckDB", e);
    }
  }
}
