package io.latentlab.tensor;

import io.latentlab.testing.TestProject;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.BufferAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An Arrow IPC file written by Java, opened by the real pyarrow, pandas and DuckDB. */
class TensorFilesInteropTest {
  private static final Path HOME = TestProject.home();

  private static final String READER = String.join("\n",
      "import sys, duckdb, pyarrow.ipc as ipc",
      "tensors = ipc.open_file(sys.argv[1]).read_all()",
      "column = tensors.column('latents').combine_chunks()",
      "print('type', column.type)",
      "print('numpy', column.to_numpy_ndarray().shape, float(column.to_numpy_ndarray()[1, 2, 1, 0]))",
      "frame = tensors.to_pandas()",
      "print('pandas', frame.shape, len(frame['latents'][0]), float(frame['latents'][1][5]))",
      "print('duckdb', duckdb.sql('select count(*), max(len(latents)) from tensors').fetchall()[0])",
      "");

  @Test
  void ipcFile_readsAsTensorInPyarrowAndOpensInPandasAndDuckdb(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("latents.arrow");
    float[] values = new float[3 * 4 * 2 * 1];
    for (int i = 0; i < values.length; i++) {
      values[i] = i;
    }
    try (BufferAllocator allocator = Allocators.aligned();
        Tensor latents = Tensor.ofFloats(allocator, new long[] {3, 4, 2, 1}, values);
        OutputStream out = Files.newOutputStream(file)) {
      TensorFiles.write(out, Map.of("latents", latents));
    }
    String output = python(READER, file.toString());
    assertTrue(output.contains(
        "type extension<arrow.fixed_shape_tensor[value_type=float, shape=[4,2,1]]>"), output);
    assertTrue(output.contains("numpy (3, 4, 2, 1) 13.0"), output); // row 1, [2, 1, 0] → 8 + 5
    assertTrue(output.contains("pandas (3, 1) 8 13.0"), output);    // row 1, flat 5 → 8 + 5
    assertTrue(output.contains("duckdb (3, 8)"), output);
  }

  private static String python(String script, String... args) throws IOException, InterruptedException {
    List<String> command = new java.util.ArrayList<>(List.of(
        HOME.resolve(".venv/bin/python").toString(), "-c", script));
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(process.waitFor(120, TimeUnit.SECONDS));
    assertEquals(0, process.exitValue(), output);
    return output;
  }
}
