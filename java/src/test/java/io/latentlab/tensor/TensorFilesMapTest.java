package io.latentlab.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import io.latentlab.testing.TestProject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An Arrow IPC file of tensors opened as views of a memory mapping, not read into memory. */
class TensorFilesMapTest {
  @TempDir
  Path dir;

  @Test
  void map_givesTheFilesTensors_asViewsOfTheFile() throws Exception {
    Path file = dir.resolve("latents.arrow");
    float[] mean = new float[3 * 2 * 2 * 4];
    float[] logvar = new float[mean.length];
    for (int i = 0; i < mean.length; i++) {
      mean[i] = 1000 + i;
      logvar[i] = -i;
    }
    try (TensorScope scope = TensorScope.root(); OutputStream out = Files.newOutputStream(file)) {
      Map<String, Tensor> columns = new LinkedHashMap<>();
      columns.put("mean", scope.ofFloats(new long[] {3, 2, 2, 4}, mean));
      columns.put("logvar", scope.ofFloats(new long[] {3, 2, 2, 4}, logvar));
      TensorFiles.write(out, columns);
    }
    try (TensorScope scope = TensorScope.root()) {
      List<Map<String, Tensor>> batches = TensorFiles.map(file, scope.allocator());
      batches.forEach(b -> b.values().forEach(scope::attach));
      assertEquals(1, batches.size());
      assertEquals(List.of("mean", "logvar"), List.copyOf(batches.get(0).keySet()));
      Tensor opened = batches.get(0).get("mean");
      assertArrayEquals(new long[] {3, 2, 2, 4}, opened.shape());
      assertArrayEquals(mean, opened.toFloatArray());
      assertArrayEquals(logvar, batches.get(0).get("logvar").toFloatArray());

      // The tensor is the file's memory: a change written to the file shows in it.
      int at = indexOf(Files.readAllBytes(file), floatBytes(1007f));
      assertTrue(at > 0, "the value's bytes are in the file");
      try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
        channel.write(ByteBuffer.wrap(floatBytes(-5f)), at);
      }
      assertEquals(-5f, opened.getFlat(7), "read through the mapping, not from a copy");
    }
  }

  /** The latent cache's layout (data/latent_cache.py): untagged lists, a label column, two batches. */
  private static final String PYARROW_CACHE = String.join("\n",
      "import json, sys, numpy as np, pyarrow as pa",
      "schema = pa.schema([('mean', pa.list_(pa.float32(), 8)), ('log_var', pa.list_(pa.float32(), 8)),",
      "                    ('label', pa.int32())], metadata={'latent_shape': json.dumps([2, 2, 2])})",
      "col = lambda a: pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), 8)",
      "with pa.OSFile(sys.argv[1], 'wb') as sink:",
      "    with pa.ipc.new_file(sink, schema) as writer:",
      "        for start in (0, 3):",
      "            mean = np.arange(start * 8, (start + 3) * 8, dtype=np.float32).reshape(3, 2, 2, 2)",
      "            writer.write_batch(pa.record_batch([col(mean), col(-mean), pa.array(np.arange(start, start + 3, dtype=np.int32))], schema=schema))");

  @Test
  void map_theLatentCacheLayoutPyarrowWrites() throws Exception {
    Path file = dir.resolve("cache.arrow");
    Process python = new ProcessBuilder(TestProject.home().resolve(".venv/bin/python").toString(), "-c",
        PYARROW_CACHE, file.toString()).redirectErrorStream(true).start();
    String output = new String(python.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertEquals(0, python.waitFor(), output);
    try (TensorScope scope = TensorScope.root()) {
      List<Map<String, Tensor>> batches = TensorFiles.map(file, scope.allocator());
      batches.forEach(b -> b.values().forEach(scope::attach));
      assertEquals(2, batches.size());
      Map<String, Tensor> second = batches.get(1);
      assertEquals(List.of("mean", "log_var", "label"), List.copyOf(second.keySet()));
      assertArrayEquals(new long[] {3, 2, 2, 2}, second.get("mean").shape(), "the schema's latent_shape");
      assertEquals(24f, second.get("mean").getFlat(0));
      assertEquals(-47f, second.get("log_var").getFlat(23));
      assertEquals(DType.INT32, second.get("label").dtype());
      assertArrayEquals(new long[] {3}, second.get("label").shape());
      assertArrayEquals(new float[] {3, 4, 5}, second.get("label").toFloatArray());
    }
  }

  @Test
  void map_notAnArrowFile_isRefused() throws Exception {
    Path file = dir.resolve("junk.arrow");
    Files.writeString(file, "not arrow at all, just text");
    try (TensorScope scope = TensorScope.root()) {
      assertThrows(Exception.class, () -> TensorFiles.map(file, scope.allocator()));
    }
  }

  private static byte[] floatBytes(float value) {
    return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(value).array();
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  @Test
  void tensorFieldMetadata_hasOneOrder_soAFileIsTheSameBytesInEveryJvm() {
    // Map.of iterates in an order drawn at each JVM's start: with it, a run's latents.arrow
    // differed between two runs of one config in about a third of JVM starts (measured, three
    // CLI runs). The order is now pyarrow's, whatever the JVM.
    var field = TensorMetadata.field("latents", new long[] {8, 8, 4}, 256, DType.FLOAT32);
    assertEquals(List.of(TensorMetadata.EXTENSION_NAME_KEY, TensorMetadata.EXTENSION_METADATA_KEY),
        List.copyOf(field.getMetadata().keySet()));
  }
}
