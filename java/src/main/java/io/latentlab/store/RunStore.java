package io.latentlab.store;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Queries over the run directories under a runs root, with DuckDB reading the run files
 * themselves: there is no second copy of the truth. Each query sees the files as they are at
 * that moment; runs write atomically, so a query never sees half a file, and a run still
 * going shows as {@code incomplete} (it has provenance.json but no result.json).
 *
 * <p>Views: {@code provenance} (one row per provenance.json), {@code results} (result.json),
 * {@code metrics} (every line of every metrics.jsonl, with the file it came from) and
 * {@code runs} (one row per run: experiment, trial, status, times, git, key metrics, path).
 *
 * <p>One store per thread; close it when done.
 */
public final class RunStore implements AutoCloseable {
  private final Path runsRoot;
  private final Connection connection;

  private RunStore(Path runsRoot, Connection connection) {
    this.runsRoot = runsRoot;
    this.connection = connection;
  }

  /**
   * Opens an in-memory DuckDB over a runs root (which may not exist yet: then every view is
   * empty).
   */
  public static RunStore open(Path runsRoot) {
    try {
      Connection connection = DriverManager.getConnection("jdbc:duckdb:");
      try (Statement statement = connection.createStatement()) {
        // Nothing is fetched from the network: the JSON and Parquet readers are built in.
        statement.execute("SET autoinstall_known_extensions = false");
      }
      return new RunStore(runsRoot.toAbsolutePath().normalize(), connection);
    } catch (SQLException e) {
      throw new IllegalStateException("cannot start DuckDB: " + e.getMessage(), e);
    }
  }

  private void defineViews() throws SQLException {
    try (Statement statement = connection.createStatement()) {
      statement.execute(view("provenance", "provenance.json",
          "SELECT NULL::VARCHAR AS experiment, NULL::VARCHAR AS trial_id, "
              + "NULL::VARCHAR AS status, NULL::VARCHAR AS started_at, "
              + "NULL::VARCHAR AS ended_at, NULL::JSON AS git, NULL::VARCHAR AS error, "
              + "NULL::VARCHAR AS filename WHERE false"));
      statement.execute(view("results", "result.json",
          "SELECT NULL::VARCHAR AS experiment, NULL::VARCHAR AS trial_id, NULL::JSON AS metrics, "
              + "NULL::VARCHAR AS filename WHERE false"));
      statement.execute(view("metrics", "metrics.jsonl",
          "SELECT NULL::VARCHAR AS stage, NULL::BIGINT AS step, NULL::DOUBLE AS loss, "
              + "NULL::VARCHAR AS filename WHERE false"));
      statement.execute("""
          CREATE OR REPLACE TEMP VIEW runs AS
          SELECT p.experiment,
                 substr(p.trial_id, 1, 12) AS trial,
                 CASE WHEN r.trial_id IS NOT NULL THEN 'completed'
                      WHEN p.status = 'running' THEN 'incomplete'
                      ELSE p.status END AS status,
                 p.started_at,
                 p.ended_at,
                 substr(json_extract_string(p.git, '$.commit'), 1, 10) AS git_commit,
                 json_extract_string(p.git, '$.dirty') = 'true' AS git_dirty,
                 TRY_CAST(json_extract(r.metrics, '$.vae_heldout_psnr_db') AS DOUBLE) AS vae_psnr_db,
                 TRY_CAST(json_extract(r.metrics, '$.unet_final_loss') AS DOUBLE) AS unet_loss,
                 regexp_replace(p.filename, '/provenance.json$', '') AS path
          FROM provenance p LEFT JOIN results r USING (trial_id)
          ORDER BY p.started_at
          """);
    }
  }

  private String view(String name, String file, String emptyQuery) {
    String glob = runsRoot.resolve("*").resolve("*").resolve(file).toString();
    boolean any = hasAny(file);
    String source = any
        ? "SELECT * FROM read_json_auto('" + glob.replace("'", "''") + "', filename = true, "
            + "union_by_name = true" + (file.endsWith(".jsonl") ? ", format = 'newline_delimited'" : "")
            + ")"
        : emptyQuery;
    return "CREATE OR REPLACE TEMP VIEW " + name + " AS " + source;
  }

  private boolean hasAny(String file) {
    if (!Files.isDirectory(runsRoot)) {
      return false;
    }
    try (Stream<Path> paths = Files.walk(runsRoot, 3)) {
      return paths.anyMatch(p -> p.getFileName().toString().equals(file) && p.getNameCount() == runsRoot.getNameCount() + 3);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + runsRoot, e);
    }
  }

  /**
   * One row per run, oldest first.
   *
   * @param experiment only this experiment, or null for all
   * @param status only runs with this status ({@code completed}, {@code incomplete},
   *     {@code failed}), or null for all
   */
  public Table runs(String experiment, String status) {
    StringBuilder sql = new StringBuilder("SELECT * FROM runs WHERE true");
    List<String> args = new ArrayList<>();
    if (experiment != null) {
      sql.append(" AND experiment = ?");
      args.add(experiment);
    }
    if (status != null) {
      sql.append(" AND status = ?");
      args.add(status);
    }
    try {
      defineViews();
      try (var statement = connection.prepareStatement(sql.toString())) {
        for (int i = 0; i < args.size(); i++) {
          statement.setString(i + 1, args.get(i));
        }
        try (ResultSet rows = statement.executeQuery()) {
          return read(rows);
        }
      }
    } catch (SQLException e) {
      throw new IllegalStateException("query over " + runsRoot + " failed: " + firstLine(e), e);
    }
  }

  /**
   * Runs any SQL over the views.
   *
   * @throws IllegalArgumentException with DuckDB's one-line message if the SQL is wrong
   */
  public Table query(String sql) {
    try {
      defineViews();
      try (Statement statement = connection.createStatement();
          ResultSet rows = statement.executeQuery(sql)) {
        return read(rows);
      }
    } catch (SQLException e) {
      throw new IllegalArgumentException(firstLine(e), e);
    }
  }

  /** Export formats. */
  public enum Format { CSV, PARQUET }

  /**
   * Writes a query's result to a file, atomically (a temporary file, then a rename).
   *
   * @throws IllegalArgumentException with DuckDB's one-line message if the SQL is wrong
   */
  public void export(String sql, Path file, Format format) {
    Path target = file.toAbsolutePath().normalize();
    Path temp = target.resolveSibling("." + target.getFileName() + ".tmp");
    try {
      defineViews();
      Files.createDirectories(target.getParent());
      try (Statement statement = connection.createStatement()) {
        statement.execute("COPY (" + sql + ") TO '" + temp.toString().replace("'", "''") + "' (FORMAT "
            + (format == Format.CSV ? "csv, HEADER true" : "parquet") + ")");
      }
      Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (SQLException e) {
      throw new IllegalArgumentException(firstLine(e), e);
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
