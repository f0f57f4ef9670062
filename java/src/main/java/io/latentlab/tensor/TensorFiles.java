package io.latentlab.tensor;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.types.pojo.Field;

/**
 * Arrow IPC files of tensors: one column per tensor, one row per batch item, each column tagged
 * {@code arrow.fixed_shape_tensor} so that pyarrow reads it as a tensor column and DuckDB and
 * pandas open it as lists.
 */
public final class TensorFiles {
  private TensorFiles() {}

  /**
   * Writes tensors of equal batch size as the columns of one Arrow IPC file.
   *
   * @param out where the file goes (not closed)
   * @param columns column name → tensor, in column order
   * @throws IllegalArgumentException if the tensors' batch sizes differ
   */
  public static void write(OutputStream out, Map<String, Tensor> columns) throws IOException {
    List<FieldVector> vectors = new ArrayList<>();
    try {
      long rows = -1;
      for (Map.Entry<String, Tensor> column : columns.entrySet()) {
        Tensor tensor = column.getValue();
        if (rows >= 0 && tensor.shape()[0] != rows) {
          throw new IllegalArgumentException(String.format(
              "column '%s' has %d rows, the others %d", column.getKey(), tensor.shape()[0], rows));
        }
        rows = tensor.shape()[0];
        vectors.add(tensor.toVector(column.getKey()));
      }
      List<Field> fields = vectors.stream().map(FieldVector::getField).toList();
      VectorSchemaRoot root = new VectorSchemaRoot(fields, vectors, (int) Math.max(rows, 0));
      try (ArrowFileWriter writer = new ArrowFileWriter(root, null, Channels.newChannel(out))) {
        writer.start();
        writer.writeBatch();
        writer.end();
      }
    } finally {
      vectors.forEach(FieldVector::close); // views over the tensors' memory, not the memory
    }
  }
}
