package io.latentlab.tensor;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.MappedByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.ForeignAllocation;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorLoader;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.ipc.ReadChannel;
import org.apache.arrow.vector.ipc.message.ArrowBlock;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.ipc.message.MessageMetadataResult;
import org.apache.arrow.vector.ipc.message.MessageSerializer;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

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

  /**
   * Opens an Arrow IPC file of tensor columns without copying it: each record batch's body is
   * memory-mapped read-only and the tensors are views of the mapping, so a file larger than
   * memory opens at once and pages are read as they are touched. Only the footer and each
   * batch's small header are read. The mapping lives until the last tensor over it is closed.
   *
   * @param file an IPC file (not the stream format), uncompressed, whose columns are
   *     fixed-shape tensors (as {@link #write} and pyarrow's {@code fixed_shape_tensor} write)
   * @param allocator accounts for the mapped memory
   * @return one map per record batch: column name → tensor, in column order
   * @throws IOException if the file cannot be read
   * @throws IllegalArgumentException if it is compressed, has dictionaries, or a column is not a
   *     tensor, naming the file
   */
  public static List<Map<String, Tensor>> map(Path file, BufferAllocator allocator) throws IOException {
    List<Map<String, Tensor>> batches = new ArrayList<>();
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
        BufferAllocator footer = allocator.newChildAllocator("footer of " + file.getFileName(), 0, Long.MAX_VALUE);
        ArrowFileReader reader = new ArrowFileReader(channel, footer)) {
      Schema schema = reader.getVectorSchemaRoot().getSchema();
      if (!reader.getDictionaryBlocks().isEmpty()) {
        throw new IllegalArgumentException(file + ": has dictionary columns; a tensor file has none");
      }
      for (ArrowBlock block : reader.getRecordBlocks()) {
        channel.position(block.getOffset());
        MessageMetadataResult header = MessageSerializer.readMessage(new ReadChannel(channel));
        if (header == null) {
          throw new IllegalArgumentException(file + ": a record batch at byte " + block.getOffset() + " is missing");
        }
        long bodyStart = block.getOffset() + block.getMetadataLength();
        // deserializeRecordBatch takes the body's reference: the batch's buffers hold the mapping
        try (ArrowRecordBatch batch = MessageSerializer.deserializeRecordBatch(header,
                mapped(channel, bodyStart, block.getBodyLength(), allocator));
            VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator)) {
          if (batch.getBodyCompression() != null && batch.getBodyCompression().getCodec()
              != org.apache.arrow.vector.compression.NoCompressionCodec.DEFAULT_BODY_COMPRESSION.getCodec()) {
            throw new IllegalArgumentException(file + ": is compressed; write it uncompressed to map it");
          }
          new VectorLoader(root).load(batch);
          Map<String, Tensor> columns = new LinkedHashMap<>();
          try {
            for (FieldVector vector : root.getFieldVectors()) {
              columns.put(vector.getName(), tensorOf(vector, schema));
            }
          } catch (IllegalArgumentException e) {
            columns.values().forEach(Tensor::close);
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
          }
          batches.add(columns);
        }
      }
    } catch (IOException | RuntimeException e) {
      batches.forEach(columns -> columns.values().forEach(Tensor::close));
      throw e;
    }
    return batches;
  }

  /**
   * A column as a tensor over its own memory: a tagged fixed-shape tensor as it says; an
   * untagged fixed-size list as {@code [rows, *latent_shape]} when the schema's
   * {@code latent_shape} metadata (a JSON list) holds as many values as a row, else
   * {@code [rows, size]}; a plain number column as {@code [rows]}.
   */
  private static Tensor tensorOf(FieldVector vector, Schema schema) {
    if (TensorMetadata.extensionName(vector.getField()) != null) {
      return Tensor.fromVector(vector);
    }
    long rows = vector.getValueCount();
    if (vector.getNullCount() != 0) {
      throw new IllegalArgumentException("column '" + vector.getName() + "' has nulls; a tensor has none");
    }
    DType dtype;
    long[] shape;
    ArrowBuf values;
    if (vector instanceof org.apache.arrow.vector.complex.FixedSizeListVector list) {
      dtype = DType.of(list.getField());
      if (list.getDataVector().getNullCount() != 0) {
        throw new IllegalArgumentException("column '" + vector.getName() + "' has nulls; a tensor has none");
      }
      long[] item = latentShape(schema, list.getListSize());
      shape = new long[item.length + 1];
      shape[0] = rows;
      System.arraycopy(item, 0, shape, 1, item.length);
      values = list.getDataVector().getDataBuffer();
    } else if (vector instanceof org.apache.arrow.vector.BaseFixedWidthVector fixed) {
      org.apache.arrow.vector.types.pojo.ArrowType type = vector.getField().getType();
      dtype = java.util.Arrays.stream(DType.values()).filter(d -> d != DType.BFLOAT16
          && d.arrowType().equals(type)).findFirst().orElseThrow(() -> new IllegalArgumentException(
              "column '" + vector.getName() + "' has type " + type + ", not a tensor's"));
      shape = new long[] {rows};
      values = fixed.getDataBuffer();
    } else {
      throw new IllegalArgumentException("column '" + vector.getName() + "' has type "
          + vector.getField().getType() + ", not a tensor's");
    }
    long bytes = java.util.Arrays.stream(shape).reduce(1, Math::multiplyExact) * dtype.bytes();
    values.getReferenceManager().retain();
    return new Tensor(values.slice(0, bytes), dtype, shape);
  }

  /** The schema's {@code latent_shape} if it holds {@code size} values, else {@code [size]}. */
  private static long[] latentShape(Schema schema, int size) {
    String json = schema.getCustomMetadata() == null ? null : schema.getCustomMetadata().get("latent_shape");
    if (json != null) {
      try {
        long[] shape = new com.fasterxml.jackson.databind.ObjectMapper().readValue(json, long[].class);
        if (shape.length > 0 && java.util.Arrays.stream(shape).reduce(1, Math::multiplyExact) == size) {
          return shape;
        }
      } catch (IOException | RuntimeException unreadable) {
        // not a shape: the row stays flat
      }
    }
    return new long[] {size};
  }

  /** {@code length} bytes of the file from {@code offset}, mapped read-only, as an ArrowBuf. */
  private static ArrowBuf mapped(FileChannel channel, long offset, long length, BufferAllocator allocator)
      throws IOException {
    if (length == 0) {
      return allocator.getEmpty();
    }
    MappedByteBuffer mapping = channel.map(FileChannel.MapMode.READ_ONLY, offset, length);
    long address = MemoryUtil.getByteBufferAddress(mapping);
    return allocator.wrapForeignAllocation(new ForeignAllocation(length, address) {
      private MappedByteBuffer keptAlive = mapping; // unmapped when collected, after release

      @Override
      protected void release0() {
        keptAlive = null;
      }
    });
  }
}
