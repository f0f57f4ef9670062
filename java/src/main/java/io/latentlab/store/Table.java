package io.latentlab.store;

import java.util.ArrayList;
import java.util.List;

/**
 * The result of a query: column names and rows of plain values (String, Long, Double,
 * Boolean, or null).
 *
 * @param columns column names, in order
 * @param rows one list per row, aligned with {@code columns}
 */
public record Table(List<String> columns, List<List<Object>> rows) {

  /** Copies the lists. */
  public Table {
    columns = List.copyOf(columns);
    rows = rows.stream().map(row -> java.util.Collections.unmodifiableList(new ArrayList<>(row))).toList();
  }

  /** The table as aligned text columns, numbers to 4 significant places after the point. */
  public String render() {
    List<List<String>> cells = new ArrayList<>();
    cells.add(columns);
    for (List<Object> row : rows) {
      cells.add(row.stream().map(Table::format).toList());
    }
    int[] widths = new int[columns.size()];
    for (List<String> row : cells) {
      for (int i = 0; i < row.size(); i++) {
        widths[i] = Math.max(widths[i], row.get(i).length());
      }
    }
    StringBuilder out = new StringBuilder();
    for (int r = 0; r < cells.size(); r++) {
      List<String> row = cells.get(r);
      StringBuilder line = new StringBuilder();
      for (int i = 0; i < row.size(); i++) {
        line.append(i == 0 ? "" : "  ").append(String.format("%-" + widths[i] + "s", row.get(i)));
      }
      out.append(line.toString().stripTrailing()).append(System.lineSeparator());
      if (r == 0) {
        for (int i = 0; i < widths.length; i++) {
          out.append(i == 0 ? "" : "  ").append("-".repeat(widths[i]));
        }
        out.append(System.lineSeparator());
      }
    }
    return out.toString();
  }

  /**
   * A summary, e.g. {@code Table[3 rows: experiment, trial, status]}; {@link #render()} gives
   * the rows (JShell shows this after the facade has printed them).
   */
  @Override
  public String toString() {
    return "Table[" + rows.size() + (rows.size() == 1 ? " row: " : " rows: ")
        + String.join(", ", columns) + "]";
  }

  private static String format(Object value) {
    if (value == null) {
      return "";
    }
    if (value instanceof Double d) {
      return String.format(java.util.Locale.ROOT, "%.4f", d);
    }
    return value.toString();
  }
}
