package io.latentlab.config;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Deeply read-only copies of JSON-shaped values (maps of strings to strings, numbers, booleans,
 * nulls, lists and maps), for records that researchers hold: they cannot change a run's
 * recorded result or a resolved config by accident, and no Jackson type leaks into them.
 */
public final class ReadOnlyJson {
  private ReadOnlyJson() {}

  /**
   * A read-only copy of a JSON object, keeping its key order; nested maps and lists are
   * copied read-only too.
   *
   * @throws IllegalArgumentException if a value is not JSON-shaped
   */
  public static Map<String, Object> map(Map<String, ?> object) {
    Map<String, Object> copy = new LinkedHashMap<>();
    object.forEach((key, value) -> copy.put(key, value(value)));
    return Collections.unmodifiableMap(copy);
  }

  private static Object value(Object value) {
    if (value == null || value instanceof String || value instanceof Number
        || value instanceof Boolean) {
      return value;
    }
    if (value instanceof Map<?, ?> object) {
      Map<String, Object> copy = new LinkedHashMap<>();
      object.forEach((key, item) -> copy.put(String.valueOf(key), value(item)));
      return Collections.unmodifiableMap(copy);
    }
    if (value instanceof List<?> list) {
      List<Object> copy = new ArrayList<>(list.size());
      list.forEach(item -> copy.add(value(item)));
      return Collections.unmodifiableList(copy);
    }
    throw new IllegalArgumentException("not a JSON value: " + value.getClass().getName());
  }
}
