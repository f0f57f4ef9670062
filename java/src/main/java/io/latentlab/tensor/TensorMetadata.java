package io.latentlab.tensor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.Map;
import org.apache.arrow.vector.types.pojo.Field;

/** Reads and writes the {@code arrow.fixed_shape_tensor} extension metadata of a field. */
final class TensorMetadata {
  static final String EXTENSION_NAME_KEY = "ARROW:extension:name";
  static final String EXTENSION_METADATA_KEY = "ARROW:extension:metadata";
  static final String FIXED_SHAPE_TENSOR = "arrow.fixed_shape_tensor";
  private static final ObjectMapper JSON = new ObjectMapper();

  private TensorMetadata() {}

  /** The per-item shape recorded on a field. */
  static long[] shapeOf(Field field) {
    Map<String, String> metadata = field.getMetadata();
    if (metadata == null || !FIXED_SHAPE_TENSOR.equals(metadata.get(EXTENSION_NAME_KEY))) {
      throw new IllegalArgumentException(
          "field '" + field.getName() + "' is not tagged " + FIXED_SHAPE_TENSOR);
    }
    try {
      JsonNode shape = JSON.readTree(metadata.get(EXTENSION_METADATA_KEY)).get("shape");
      long[] out = new long[shape.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] = shape.get(i).asLong();
      }
      return out;
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(
          "field '" + field.getName() + "' has unreadable tensor metadata: " + metadata, e);
    }
  }
}
