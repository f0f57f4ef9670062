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
    // In a fixed order (pyarrow's: name, then metadata): Map.of iterates in an order that
    // changes from one JVM to the next, and with it the bytes of every file written.
    Map<String, String> metadata = new java.util.LinkedHashMap<>();
    metadata.put(EXTENSION_NAME_KEY, extensionFor(dtype));
    metadata.put(EXTENSION_METADATA_KEY, shapeJson(itemShape));
    Field item = new Field("item", FieldType.notNullable(dtype.arrowType()), null);
    return new Field(name, new FieldType(false, new ArrowType.FixedSizeList(perItem), null, metadata),
        List.of(item));
  }

  /** The extension name a tensor of {@code dtype} is tagged with. */
  static String extensionFor(DType dtype) {
    return dtype == DType.BFLOAT16 ? BFLOAT16_TENSOR : FIXED_SHAPE_TENSOR;
  }

  /** The extension metadata of a tensor whose items have {@code itemShape}. */
  static String shapeJson(long[] itemShape) {
    return "{\"shape\":["
        + Arrays.stream(itemShape).mapToObj(Long::toString).collect(Collectors.joining(",")) + "]}";
  }

  /** The field's extension name, or null. */
  static String extensionName(Field field) {
    return field.getMetadata() == null ? null : field.getMetadata().get(EXTENSION_NAME_KEY);
  }

  /** The per-item shape recorded on a field. */
  static long[] shapeOf(Field field) {
    Map<String, String> metadata = field.getMetadata() == null ? Map.of() : field.getMetadata();
    return shapeOf(extensionName(field), metadata.get(EXTENSION_METADATA_KEY), field.getName());
  }

  /**
   * The per-item shape in a tensor's extension metadata.
   *
   * @param extension the extension name (must be a tensor's)
   * @param json the extension metadata
   * @param fieldName for the message
   * @throws IllegalArgumentException if it is not a tensor, its metadata is unreadable, or its
   *     dimensions are permuted (the memory would not be row-major in the shape)
   */
  static long[] shapeOf(String extension, String json, String fieldName) {
    if (!FIXED_SHAPE_TENSOR.equals(extension) && !BFLOAT16_TENSOR.equals(extension)) {
      throw new IllegalArgumentException(
          "field '" + fieldName + "' is not tagged " + FIXED_SHAPE_TENSOR);
    }
    long[] out;
    JsonNode permutation;
    try {
      JsonNode root = JSON.readTree(json);
      JsonNode shape = root.get("shape");
      out = new long[shape.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] = shape.get(i).asLong();
      }
      permutation = root.get("permutation");
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(
          "field '" + fieldName + "' has unreadable tensor metadata: " + json, e);
    }
    if (permutation != null && !permutation.isNull()) {
      for (int i = 0; i < permutation.size(); i++) {
        if (permutation.get(i).asInt() != i) {
          throw new IllegalArgumentException("field '" + fieldName + "' is a permuted tensor "
              + permutation + "; LatentLab takes row-major tensors only");
        }
      }
    }
    return out;
  }
}
