package io.latentlab.lab;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

/**
 * The project's JSON mapper for what the model tasks write and read: indented, map keys sorted.
 * Objects built as {@code ObjectNode}s keep their insertion order (the sort applies to maps), so
 * result files and settings ids are what they were when each command had its own mapper.
 */
public final class ResultJson {
  /** The mapper; configured once, safe to share between threads. */
  public static final ObjectMapper MAPPER = new ObjectMapper()
      .enable(SerializationFeature.INDENT_OUTPUT)
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

  private ResultJson() {}
}
