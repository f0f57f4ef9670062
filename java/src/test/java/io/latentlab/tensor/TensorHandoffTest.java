package io.latentlab.tensor;

import io.latentlab.testing.TestProject;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.bridge.PythonBridge;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.Map;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.SeekableReadChannel;
import org.apache.arrow.vector.util.ByteArrayReadableSeekableByteChannel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Tensors leaving JAX through the real bridge: same memory, right values, nothing leaked. */
class TensorHandoffTest {
  /**
   * Whether JAX computes in host memory here (the CPU backend, as LATENTLAB_ACCELERATOR names
   * it): only then can a jax.Array's own buffer be Java's. On a GPU or TPU the array lives in
   * device memory and each handoff makes one device-to-host copy (result.json says which
   * happened), so there the tests compare only the host-side hops (Java, pyarrow, NumPy).
   */
  static final boolean HOST_BACKEND = "cpu".equals(TestProject.expectedBackend());
  static PythonBridge bridge;
  BufferAllocator allocator;

  @BeforeAll
  static void start() {
    bridge = PythonBridge.start(TestProject.home());
  }

  @BeforeEach
  void allocate() {
    allocator = Allocators.aligned();
  }

  @AfterEach
  void noLeaks() {
    assertEquals(0, allocator.getAllocatedMemory(), "the allocator holds no bytes after the test");
    allocator.close();
  }

  private Tensor fromJax(int rows, long[] jaxAddress) {
    return Tensor.importFrom(allocator, (array, schema) ->
        jaxAddress[0] = bridge.callForLong("sample_tensor", rows, array, schema));
  }

  @Test
  void importFrom_jaxArray_isTheSameMemory() {
    org.junit.jupiter.api.Assumptions.assumeTrue(HOST_BACKEND,
        "a jax.Array's own buffer reaches Java on the CPU backend only");
    long[] jaxAddress = new long[1];
    try (Tensor tensor = fromJax(4, jaxAddress)) {
      assertEquals(jaxAddress[0], tensor.dataAddress(), "Java reads the jax.Array's own buffer");
      assertEquals(0, tensor.dataAddress() % 64, "XLA's CPU buffers are 64-byte aligned");
    }
  }

  @Test
  void importFrom_jaxArray_hasShapeAndValues() {
    try (Tensor tensor = fromJax(3, new long[1])) {
      assertArrayEquals(new long[] {3, 2, 3}, tensor.shape());
      float[] values = tensor.toFloatArray();
      assertEquals(18, values.length);
      for (int i = 0; i < values.length; i++) {
        assertEquals(i, values[i]);
      }
      assertEquals(7f, tensor.getFlat(7));
    }
  }

  /** Java → pyarrow → numpy → jax.Array → back to Java; returns [java, pyarrow, numpy, jax, back]. */
  private long[] echo(Tensor tensor, float[] expected) {
    long[] hops = new long[5];
    hops[0] = tensor.dataAddress();
    try (org.apache.arrow.c.ArrowArray array = org.apache.arrow.c.ArrowArray.allocateNew(allocator);
        org.apache.arrow.c.ArrowSchema schema = org.apache.arrow.c.ArrowSchema.allocateNew(allocator)) {
      tensor.exportTo(allocator, array.memoryAddress(), schema.memoryAddress());
      try (Tensor back = Tensor.importFrom(allocator, (outArray, outSchema) -> {
        java.util.List<?> seen = (java.util.List<?>) bridge.call("echo_tensor",
            array.memoryAddress(), schema.memoryAddress(), outArray, outSchema);
        for (int i = 0; i < 3; i++) {
          hops[i + 1] = ((Number) seen.get(i)).longValue();
        }
      })) {
        hops[4] = back.dataAddress();
        if (expected != null) {
          assertArrayEquals(expected, back.toFloatArray());
          assertArrayEquals(tensor.shape(), back.shape());
        }
      }
    }
    return hops;
  }

  /** Every hop on the CPU backend; the host-side ones (Java, pyarrow, NumPy) elsewhere. */
  private static int comparedHops(long[] hops) {
    return HOST_BACKEND ? hops.length : 3;
  }

  @Test
  void roundTrip_javaToJaxAndBack_isTheSameMemoryAtEveryHop() {
    float[] values = new float[3 * 4 * 5];
    for (int i = 0; i < values.length; i++) {
      values[i] = i * 0.5f - 7f;
    }
    try (Tensor tensor = Tensor.ofFloats(allocator, new long[] {3, 4, 5}, values)) {
      long[] hops = echo(tensor, values);
      for (int i = 1; i < comparedHops(hops); i++) {
        assertEquals(hops[0], hops[i], "hop " + i + " of [java, pyarrow, numpy, jax, java]");
      }
    }
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.EnumSource(DType.class)
  void roundTrip_everyDtype_sameMemoryAndValues(DType dtype) {
    long[] shape = {2, 3, 4};
    float[] expected = new float[24];
    for (int i = 0; i < expected.length; i++) {
      expected[i] = i % 7; // exact in every dtype
    }
    try (Tensor tensor = make(dtype, shape, expected)) {
      assertEquals(dtype, tensor.dtype());
      long[] hops = echo(tensor, expected);
      for (int i = 1; i < comparedHops(hops); i++) {
        assertEquals(hops[0], hops[i], dtype + ": hop " + i + " of [java, pyarrow, numpy, jax, java]");
      }
    }
    bridge.collectGarbage(); // bfloat16's export is freed by Python's cycle collector
  }

  private Tensor make(DType dtype, long[] shape, float[] values) {
    int n = values.length;
    switch (dtype) {
      case FLOAT32:
        return Tensor.ofFloats(allocator, shape, values);
      case INT32: {
        int[] ints = new int[n];
        for (int i = 0; i < n; i++) {
          ints[i] = (int) values[i];
        }
        return Tensor.ofInts(allocator, shape, ints);
      }
      case UINT8: {
        byte[] bytes = new byte[n];
        for (int i = 0; i < n; i++) {
          bytes[i] = (byte) values[i];
        }
        return Tensor.ofUnsignedBytes(allocator, shape, bytes);
      }
      default: {
        short[] bits = new short[n];
        for (int i = 0; i < n; i++) {
          int f = Float.floatToIntBits(values[i]);
          bits[i] = dtype == DType.BFLOAT16 ? (short) (f >>> 16) : float16Bits(values[i]);
        }
        return Tensor.ofHalfBits(allocator, dtype, shape, bits);
      }
    }
  }

  /** float16 bits of a small non-negative integer (enough for these tests). */
  private static short float16Bits(float v) {
    if (v == 0) {
      return 0;
    }
    int exponent = Math.getExponent(v);
    int mantissa = (int) ((v / Math.scalb(1f, exponent) - 1f) * 1024);
    return (short) (((exponent + 15) << 10) | mantissa);
  }

  @Test
  void fromVector_withNulls_refused() {
    try (Tensor valid = Tensor.ofFloats(allocator, new long[] {2, 2}, new float[4]);
        var vector = valid.toVector("tensor")) {
      vector.setNull(1);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Tensor.fromVector(vector));
      assertEquals("a tensor must not contain nulls", e.getMessage());
    }
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', value = {
      "plain       | expected a fixed-size list (a tensor), got Arrow format 'f'",
      "untagged    | field 'tensor' is not tagged arrow.fixed_shape_tensor",
      "null_rows   | a tensor must not contain nulls (rows)",
      "null_values | a tensor must not contain nulls (values)",
      "int64       | tensor values of Arrow format 'l' are not supported; use float32, float16, bfloat16, int32 or uint8",
      "permuted    | field 'tensor' is a permuted tensor [1,0]; LatentLab takes row-major tensors only"})
  void importFrom_notATensor_refusedAndReleased(String kind, String message) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
        Tensor.importFrom(allocator, (array, schema) -> bridge.call("sample_bad_tensor", kind, array, schema)));
    assertEquals(message, e.getMessage());
    assertEquals(Boolean.TRUE, bridge.call("bad_tensor_released"),
        "Java released Python's export (its memory is freed)");
    // and the allocator check after the test shows that Java freed the structs
  }

  /**
   * A producer may leave the null count unknown (-1) and send a validity bitmap: then the
   * bitmap decides. Java's own export, with the values' null count and bitmap edited.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(ints = {0xFF, 0xEF})
  void importFrom_unknownNullCount_readsTheBitmap(int firstBitmapByte) {
    try (Tensor tensor = Tensor.ofFloats(allocator, new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6});
        org.apache.arrow.memory.ArrowBuf bitmap = allocator.buffer(8)) {
      bitmap.setByte(0, firstBitmapByte); // 0xEF: value 4 is null
      org.apache.arrow.c.ArrowArray array = org.apache.arrow.c.ArrowArray.allocateNew(allocator);
      org.apache.arrow.c.ArrowSchema schema = org.apache.arrow.c.ArrowSchema.allocateNew(allocator);
      tensor.exportTo(allocator, array.memoryAddress(), schema.memoryAddress());
      long childAddress = org.apache.arrow.memory.util.MemoryUtil.getLong(array.snapshot().children);
      org.apache.arrow.c.ArrowArray child = org.apache.arrow.c.ArrowArray.wrap(childAddress);
      org.apache.arrow.c.ArrowArray.Snapshot values = child.snapshot();
      values.null_count = -1;
      child.save(values);
      org.apache.arrow.memory.util.MemoryUtil.putLong(values.buffers, bitmap.memoryAddress());
      if (firstBitmapByte == 0xFF) {
        try (Tensor back = CDataTensors.take(allocator, array, schema)) {
          assertEquals(tensor.dataAddress(), back.dataAddress());
          assertArrayEquals(tensor.toFloatArray(), back.toFloatArray());
        }
      } else {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> CDataTensors.take(allocator, array, schema));
        assertEquals("a tensor must not contain nulls (values)", e.getMessage());
      }
    }
  }

  @Test
  void export_outlivesTheTensor_untilPythonReleasesIt() {
    float[] values = {1, 2, 3, 4, 5, 6};
    Tensor tensor = Tensor.ofFloats(allocator, new long[] {2, 3}, values);
    try (org.apache.arrow.c.ArrowArray array = org.apache.arrow.c.ArrowArray.allocateNew(allocator);
        org.apache.arrow.c.ArrowSchema schema = org.apache.arrow.c.ArrowSchema.allocateNew(allocator)) {
      tensor.exportTo(allocator, array.memoryAddress(), schema.memoryAddress());
      long exported = allocator.getAllocatedMemory();
      tensor.close(); // Python has not taken it yet: the export keeps the memory
      assertEquals(exported, allocator.getAllocatedMemory(), "the export still holds the values");
      try (Tensor back = Tensor.importFrom(allocator, (outArray, outSchema) ->
          bridge.call("echo_tensor", array.memoryAddress(), schema.memoryAddress(), outArray, outSchema))) {
        assertArrayEquals(values, back.toFloatArray());
      }
    }
    IllegalStateException closed = assertThrows(IllegalStateException.class,
        () -> tensor.exportTo(allocator, 0, 0));
    assertEquals("tensor is closed", closed.getMessage());
  }

  @Test
  void alignedAllocator_alignsEveryBuffer() {
    for (int size = 1; size < 2000; size += 7) {
      try (org.apache.arrow.memory.ArrowBuf buffer = allocator.buffer(size)) {
        assertEquals(0, buffer.memoryAddress() % 64, "size " + size);
      }
    }
  }

  @Test
  void roundTrips_tenThousand_leakNothing() throws Exception {
    float[] values = new float[64 * 256]; // 64 KiB: 10,000 leaked buffers would be 640 MiB
    try (Tensor tensor = Tensor.ofFloats(allocator, new long[] {64, 256}, values)) {
      for (int i = 0; i < 5000; i++) {
        echo(tensor, null); // warm up caches, pools and the Java heap before measuring
      }
      long before = residentOutsideHeap();
      for (int i = 0; i < 10_000; i++) {
        echo(tensor, null);
      }
      long after = residentOutsideHeap();
      assertTrue(after < before * 1.05, "resident memory outside the Java heap " + before + " → " + after);
    }
  }

  /**
   * Resident memory less the Java heap's committed size, once Python's and Java's garbage is
   * collected and malloc's free memory is handed back (what other tests in this JVM left in
   * malloc's pools is not this test's). The heap is pre-touched at its initial size (pom.xml's
   * argLine), so its own growing and shrinking would otherwise swamp the comparison.
   */
  private static long residentOutsideHeap() throws java.io.IOException {
    bridge.collectGarbage();
    System.gc();
    bridge.call("trim_heap");
    long heap = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
    return residentBytes() - heap;
  }

  private static long residentBytes() throws java.io.IOException {
    for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
    }
    throw new IllegalStateException("no VmRSS in /proc/self/status");
  }

  @Test
  void ofFloats_badShape_refused() {
    IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
        () -> Tensor.ofFloats(allocator, new long[] {2, 3}, new float[5]));
    assertEquals("shape [2, 3] holds 6 values, got 5", count.getMessage());
    IllegalArgumentException negative = assertThrows(IllegalArgumentException.class,
        () -> Tensor.ofFloats(allocator, new long[] {2, -3}, new float[6]));
    assertTrue(negative.getMessage().startsWith("dimensions must be positive"));
  }

  @Test
  void closedTensor_refusesAccess() {
    Tensor tensor = fromJax(1, new long[1]);
    tensor.close();
    IllegalStateException e = assertThrows(IllegalStateException.class, tensor::dataAddress);
    assertEquals("tensor is closed", e.getMessage());
  }

  @Test
  void writeIpc_roundTripsWithTensorMetadata() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (Tensor tensor = fromJax(2, new long[1])) {
      TensorFiles.write(out, Map.of("latents", tensor));
    }
    try (SeekableReadChannel channel = new SeekableReadChannel(
            new ByteArrayReadableSeekableByteChannel(out.toByteArray()));
        ArrowFileReader reader = new ArrowFileReader(channel, allocator)) {
      reader.loadNextBatch();
      var field = reader.getVectorSchemaRoot().getSchema().findField("latents");
      assertEquals("arrow.fixed_shape_tensor", field.getMetadata().get("ARROW:extension:name"));
      assertEquals("{\"shape\":[2,3]}", field.getMetadata().get("ARROW:extension:metadata"));
      assertEquals(2, reader.getVectorSchemaRoot().getRowCount());
      try (Tensor back = Tensor.fromVector(reader.getVectorSchemaRoot().getVector("latents"))) {
        assertArrayEquals(new long[] {2, 2, 3}, back.shape());
        assertEquals(11f, back.getFlat(11)); // sample_tensor's values are 0, 1, 2, …
      }
    }
  }

  @Test
  void imageGrid_withoutChannelAxis_refused() {
    try (Tensor tensor = fromJax(5, new long[1])) {
      // 5 items of [2, 3] read as images [N, H=2, W=3, 1] would need a channel axis: refused
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Images.grid(tensor, 2, 1));
      assertTrue(e.getMessage().contains("[N, H, W, 1]"), e.getMessage());
    }
  }
}
