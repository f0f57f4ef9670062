package io.latentlab.tensor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;

/** Reads and writes the {@code arrow.fixed_shape_tensor} extension metadata of a field. */
final class TensorMetadata {
  static final String EXTENSION_NAME_KEY = "ARROW:extension:name";
  static final String EXTENSION_METADATA_KEY = "ARROW:extension:metadata";
  static final String FIXED_SHAPE_TENSOR = "arrow.fixed_shape_tensor";
  /** LatentLab's name for bfloat16 tensors (uint16 storage), which Arrow has no type for. */
  static final String BFLOAT16_TENSOR = "latentlab.bfloat16_tensor";
  private static final ObjectMapper JSON = new ObjectMapper();

  private TensorMetadata() {}

  /** A non-null fixed-size list field of {@code dtype} values tagged as a tensor of {@code itemShape}. */
  static Field field(String name, long[] itemShape, int perItem, DType dtype) {
    String shape = Arrays.stream(itemShape).mapToObj(Long::toString).collect(Collectors.joining(","));
    Map<String, String> metadata = Map.of(
        EXTENSION_NAME_KEY, dtype == DType.BFLOAT16 ? BFLOAT16_TENSOR : FIXED_SHAPE_TENSOR,
        EXTENSION_METADATA_KEY, "{\"shape\":[" + shape + "]}");
    Field item = new Field("item", FieldType.notNullable(dtype.arrowType()), null);
    return new Field(name, new FieldType(false, new ArrowType.FixedSizeList(perItem), null, metadata),
        List.of(item));
  }

  /** The field's extension name, or null. */
  static String extensionName(Field field) {
    return field.getMetadata() == null ? null : field.getMetadata().get(EXTENSION_NAME_KEY);
  }

  /** The per-item shape recorded on a field. */
  static long[] shapeOf(Field field) {
    Map<String, String> metadata = field.getMetadata();
    String extension = extensionName(field);
    if (!FIXED_SHAPE_TENSOR.equals(extension) && !BFLOAT16_TENSOR.equals(extension)) {
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
