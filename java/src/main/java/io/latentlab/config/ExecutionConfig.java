package io.latentlab.config;

import static io.latentlab.config.Checks.orDefault;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Map;

/**
 * Where a run computes and in what precision. Python builds the mesh from it
 * ({@code latentlab.execution}): the batch of every step is split over the mesh's {@code data}
 * axis, the training state is replicated on each device.
 *
 * <p>Which keys name the trial: {@code precision} changes results, so a non-default precision
 * enters the trial id; {@code devices}, {@code mesh}, {@code processes}, {@code coordinator}
 * and {@code checkpoint_every} do not: with the same global batch, a
 * run on 4 devices equals a run on 1 within float32 rounding (the tests measure it), so the same
 * experiment on a laptop and on an 8-GPU host is one trial. A run records the devices it used in
 * {@code provenance.json} and {@code result.json}. See {@link #identity()}.
 *
 * @param devices {@code "all"} (every local device) or how many of them, from the first
 * @param precision {@code float32}, or {@code bfloat16}: matmuls and convolutions in bfloat16,
 *     master weights, optimiser state and losses in float32
 * @param mesh the mesh's shape
 * @param processes how many JAX processes the run spans (default 1): {@code ./latentlab run
 *     --processes N} starts them on this host, a Slurm job one per task; {@code devices} then
 *     counts each process's devices. Not in the trial id: 2 processes of 2 devices give what
 *     1 of 4 gives within float32 rounding
 * @param coordinator {@code host:port} of the first process's coordinator, or null: the
 *     launcher picks a free local port, and under Slurm JAX finds it from the job
 * @param checkpointEvery steps between a stage's training checkpoints (default 100): what a
 *     killed run loses at most. Not in the trial id: a resumed run ends on the bytes of an
 *     uninterrupted one whatever the interval
 */
public record ExecutionConfig(Object devices, String precision, Mesh mesh, Integer processes,
    @JsonInclude(JsonInclude.Include.NON_NULL) String coordinator, Integer checkpointEvery) {
  /** Steps between training checkpoints when a config names none (Python's, checked by a test). */
  public static final int DEFAULT_CHECKPOINT_EVERY = 100;
  /** The precision a config gets when it names none (Python's, checked by a test). */
  public static final String DEFAULT_PRECISION = "float32";
  /** The precisions Python computes in ({@code latentlab.execution.PRECISIONS}). */
  public static final List<String> PRECISIONS = List.of("float32", "bfloat16");

  /** Fills defaults (all devices, float32, {@code data: -1}) and checks values. */
  public ExecutionConfig {
    devices = orDefault(devices, "all");
    boolean count = (devices instanceof Integer || devices instanceof Long)
        && ((Number) devices).longValue() >= 1 && ((Number) devices).longValue() <= 1 << 20;
    if (!"all".equals(devices) && !count) {
      throw new IllegalArgumentException(String.format(
          "execution.devices: expected 'all' or a device count >= 1, got %s", devices));
    }
    if (devices instanceof Long n) {
      devices = n.intValue();
    }
    precision = Checks.oneOf("execution.precision", orDefault(precision, DEFAULT_PRECISION), PRECISIONS);
    mesh = orDefault(mesh, new Mesh(null));
    processes = Checks.atLeast("execution.processes", orDefault(processes, 1), 1, 1 << 16);
    if (coordinator != null && !coordinator.matches("[^\\s:]+:\\d{1,5}")) {
      throw new IllegalArgumentException("execution.coordinator: expected 'host:port', got '"
          + coordinator + "'");
    }
    checkpointEvery = Checks.atLeast("execution.checkpoint_every",
        orDefault(checkpointEvery, DEFAULT_CHECKPOINT_EVERY), 1, 1 << 30);
  }

  static ExecutionConfig defaults() {
    return new ExecutionConfig(null, null, null, null, null, null);
  }

  /** This config run over {@code count} processes. */
  public ExecutionConfig withProcesses(int count) {
    return new ExecutionConfig(devices, precision, mesh, count, coordinator, checkpointEvery);
  }

  /**
   * The keys of this section that change results, as they enter the trial id: empty for the
   * default precision, so a config without an {@code execution:} section keeps the trial id it
   * had before the section existed.
   */
  public Map<String, Object> identity() {
    return DEFAULT_PRECISION.equals(precision) ? Map.of() : Map.of("precision", precision);
  }

  /**
   * The device mesh's shape: one axis, {@code data}, over which each batch is split.
   *
   * @param data how many devices the batch is split over; -1 is every selected device
   */
  public record Mesh(Integer data) {
    /** Fills the default (-1) and checks the size. */
    public Mesh {
      data = orDefault(data, -1);
      if (data != -1) {
        Checks.atLeast("execution.mesh.data", data, 1, 1 << 20);
      }
    }
  }
}
