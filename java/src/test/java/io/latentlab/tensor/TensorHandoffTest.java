package io.latentlab.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.bridge.PythonBridge;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.Map;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.SeekableReadChannel;
import org.apache.arrow.vector.util.ByteArrayReadableSeekableByteChannel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Tensors leaving JAX through the real bridge: same memory, right values, nothing leaked. */
class TensorHandoffTest {
  static PythonBridge bridge;
  BufferAllocator allocator;

  @BeforeAll
  static void start() {
    bridge = PythonBridge.start(Path.of(System.getProperty("latentlab.home", ".")));
  }

  @BeforeEach
  void allocate() {
    allocator = new RootAllocator();
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
    }
  }

  @Test
  void imageGrid_laysOutRowsWithGaps() {
    try (Tensor tensor = fromJax(5, new long[1])) {
      // 5 items of [2, 3] read as images [N, H=2, W=3, 1] would need a channel axis: refused
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Images.grid(tensor, 2, 1));
      assertTrue(e.getMessage().contains("[N, H, W, 1]"), e.getMessage());
    }
  }
}
