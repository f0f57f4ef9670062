package io.latentlab.tensor;

import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;

/**
 * Element types a {@link Tensor} may hold, with their Arrow storage. bfloat16 has no Arrow type:
 * it is stored as uint16 bit patterns under the extension name {@code latentlab.bfloat16_tensor}
 * (same metadata as {@code arrow.fixed_shape_tensor}), which {@code latentlab.bridge} reads back
 * as {@code jnp.bfloat16}.
 */
public enum DType {
  FLOAT32("float32", 4, new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE), "f"),
  FLOAT16("float16", 2, new ArrowType.FloatingPoint(FloatingPointPrecision.HALF), "e"),
  BFLOAT16("bfloat16", 2, new ArrowType.Int(16, false), "S"),
  INT32("int32", 4, new ArrowType.Int(32, true), "i"),
  UINT8("uint8", 1, new ArrowType.Int(8, false), "C");

  private final String pythonName;
  private final int bytes;
  private final ArrowType arrowType;
  private final String cDataFormat;

  DType(String pythonName, int bytes, ArrowType arrowType, String cDataFormat) {
    this.pythonName = pythonName;
    this.bytes = bytes;
    this.arrowType = arrowType;
    this.cDataFormat = cDataFormat;
  }

  /** The NumPy/JAX name of this type. */
  public String pythonName() {
    return pythonName;
  }

  /** Bytes per element. */
  public int bytes() {
    return bytes;
  }

  ArrowType arrowType() {
    return arrowType;
  }

  /** The Arrow C Data Interface format string of the storage type. */
  String cDataFormat() {
    return cDataFormat;
  }

  /**
   * The element type of a tensor whose values have C Data {@code format}, under the extension
   * name {@code extension}, or an error naming what is supported.
   */
  static DType ofCData(String format, String extension) {
    return find(dtype -> dtype.cDataFormat.equals(format), extension, "Arrow format '" + format + "'");
  }

  /** The element type of a tensor field, or an error naming what is supported. */
  static DType of(org.apache.arrow.vector.types.pojo.Field tensorField) {
    ArrowType type = tensorField.getChildren().get(0).getType();
    return find(dtype -> dtype.arrowType.equals(type), TensorMetadata.extensionName(tensorField),
        "Arrow type " + type);
  }

  /**
   * The type whose storage {@code stores} accepts: bfloat16 only under its own extension name
   * (its storage is uint16's).
   */
  private static DType find(java.util.function.Predicate<DType> stores, String extension,
      String storage) {
    if (TensorMetadata.BFLOAT16_TENSOR.equals(extension) && stores.test(BFLOAT16)) {
      return BFLOAT16;
    }
    for (DType dtype : values()) {
      if (dtype != BFLOAT16 && stores.test(dtype)) {
        return dtype;
      }
    }
    throw new IllegalArgumentException("tensor values of " + storage
        + " are not supported; use float32, float16, bfloat16, int32 or uint8");
  }
}
