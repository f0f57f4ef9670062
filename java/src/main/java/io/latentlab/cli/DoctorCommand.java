package io.latentlab.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.tensor.Allocators;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorSlot;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.memory.BufferAllocator;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code latentlab doctor}: the JAX backend this machine gives, its devices and memory, and for
 * each direction of a tensor handoff whether it is zero-copy here, found by doing one.
 */
@Command(
    name = "doctor",
    mixinStandardHelpOptions = true,
    description = {"Prints the JAX backend, its devices and their memory, and whether each "
        + "tensor handoff (JAX -> Java, Java -> JAX) is zero-copy on this backend, probed by "
        + "handing a real tensor across.",
        "LATENTLAB_ACCELERATOR=cpu|cuda12|tpu chose the JAX wheels at set-up."},
    footer = {"", "Examples:", "  ./latentlab doctor",
        "  XLA_FLAGS=--xla_force_host_platform_device_count=4 ./latentlab doctor"})
final class DoctorCommand implements Callable<Integer> {
  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PythonBridge bridge = PythonBridge.start(Main.home());
    JsonNode machine = new ObjectMapper().readTree(bridge.callForString("doctor"));
    out.printf("backend:   %s (jax %s)%n", machine.get("backend").asText(), machine.get("jax").asText());
    out.printf("host:      %d CPUs, %s memory%n", machine.get("cpu_count").asInt(),
        bytes(machine.get("host_memory_bytes")));
    out.printf("devices:   %d%n", machine.get("devices").size());
    for (JsonNode device : machine.get("devices")) {
      out.printf("  %s:%d  %-12s memory %s%n", device.get("platform").asText(), device.get("id").asInt(),
          device.get("kind").asText(), device.get("memory_bytes").isNull()
              ? "(shares the host's)" : bytes(device.get("memory_bytes")));
    }
    if (!machine.get("xla_flags").asText().isEmpty()) {
      out.printf("XLA_FLAGS: %s%n", machine.get("xla_flags").asText());
    }
    try (BufferAllocator allocator = Allocators.aligned()) {
      out.println("handoffs:  " + exportProbe(bridge, allocator));
      out.println("           " + importProbe(bridge, allocator));
    }
    out.flush();
    return 0;
  }

  /** JAX → Java: Python exports a jax.Array; zero-copy if Java holds its own memory. */
  private static String exportProbe(PythonBridge bridge, BufferAllocator allocator) {
    try (TensorSlot slot = TensorSlot.allocate(allocator)) {
      long device = bridge.callForLong("probe_export", slot.arrayAddress(), slot.schemaAddress());
      try (Tensor tensor = slot.take()) {
        return "JAX -> Java: " + (tensor.dataAddress() == device ? "zero-copy"
            : "one device-to-host copy (the jax.Array is in device memory)");
      }
    }
  }

  /** Java → JAX: Java exports aligned memory; zero-copy if the jax.Array is that memory on the
   * default backend's device. */
  private static String importProbe(PythonBridge bridge, BufferAllocator allocator) {
    try (Tensor tensor = Tensor.zeros(allocator, io.latentlab.tensor.DType.FLOAT32, new long[] {64, 16});
        ArrowArray array = ArrowArray.allocateNew(allocator);
        ArrowSchema schema = ArrowSchema.allocateNew(allocator)) {
      tensor.exportTo(allocator, array.memoryAddress(), schema.memoryAddress());
      List<?> seen = (List<?>) bridge.call("probe_import", array.memoryAddress(), schema.memoryAddress());
      long address = ((Number) seen.get(0)).longValue();
      String platform = String.valueOf(seen.get(1));
      String backend = String.valueOf(seen.get(2));
      if (address == tensor.dataAddress() && platform.equals(backend)) {
        return "Java -> JAX: zero-copy";
      }
      return address == tensor.dataAddress()
          ? "Java -> JAX: zero-copy into host memory, then one host-to-" + backend + " copy"
          : "Java -> JAX: copied (" + platform + ")";
    }
  }

  private static String bytes(JsonNode value) {
    if (value == null || value.isNull()) {
      return "unknown";
    }
    return String.format(Locale.ROOT, "%.1f GiB", value.asDouble() / (1L << 30));
  }
}
