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
}
