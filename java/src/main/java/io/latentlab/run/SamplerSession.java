package io.latentlab.run;

import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorSlot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Samples a trained model one step at a time from Java: each {@link #step()} hands back the
 * current latents and the model's x0 prediction as tensors that alias the JAX arrays (no copy),
 * and {@link #setLatents} replaces the latents between steps. Left untouched, the final latents
 * equal fused sampling with the same options bit for bit on CPU.
 *
 * <p>Latents are in the U-Net's scaled latent space, shape {@code [B, h, w, c]}. Tensors
 * returned are the caller's to close. Not thread-safe; any one thread at a time.
 */
public final class SamplerSession implements AutoCloseable {
  private final PythonBridge bridge;
  private final BufferAllocator allocator;
  private final ProgressListener progress;
  private final long handle;
  private final int totalSteps;
  private int stepsDone;
  private boolean closed;

  private SamplerSession(PythonBridge bridge, BufferAllocator allocator, ProgressListener progress,
      long handle, int totalSteps) {
    this.bridge = bridge;
    this.allocator = allocator;
    this.progress = progress;
    this.handle = handle;
    this.totalSteps = totalSteps;
  }

  /**
   * Opens a session on a completed run's checkpoint.
   *
   * @param run a run directory (holds {@code checkpoint/})
   * @param allocator owns the tensors this session returns; {@code Allocators.aligned()} for
   *     tensors given back through {@link #setLatents}
   * @param progress told after each step (stage {@code sample}); {@link ProgressListener#NONE}
   *     for none
   * @throws IllegalArgumentException if the run has no checkpoint or an option is invalid
   * @throws NullPointerException if an argument is null
   */
  public static SamplerSession open(PythonBridge bridge, Path run, SamplerOptions options,
      BufferAllocator allocator, ProgressListener progress) {
    java.util.Objects.requireNonNull(progress, "progress: give ProgressListener.NONE for no progress reports");
    Path checkpoint = run.resolve(RunDirectory.CHECKPOINT);
    if (!RunDirectory.hasTrainedWeights(run)) {
      throw new IllegalArgumentException(run + " has no checkpoint; run the experiment to completion first");
    }
    long handle = bridge.callForLong("session_open", checkpoint.toString(), options.sampler(),
        options.steps(), options.seed(), options.labels(), options.guidanceScale(), options.eta(),
        options.spacing(), options.rho());
    return new SamplerSession(bridge, allocator, progress, handle, options.steps());
  }

  /** Steps taken so far. */
  public int stepsDone() {
    return stepsDone;
  }

  /** Steps the sampler will take in all. */
  public int totalSteps() {
    return totalSteps;
  }

  /**
   * The noise level σ of the current latents (x = x0 + σε): the grid's first σ before any
   * step, 0 after the last. Inpainting re-noises known latents to it.
   */
  public double sigma() {
    checkOpen();
    Object info = bridge.call("session_info", handle);
    return ((Number) ((java.util.List<?>) info).get(2)).doubleValue();
  }

  /** True once every step is taken. */
  public boolean done() {
    return stepsDone >= totalSteps;
  }

  /**
   * Takes one step.
   *
   * @return the new latents and the x0 prediction; close it (or both tensors) when done
   * @throws IllegalStateException after the last step or once closed
   */
  public Step step() {
    checkOpen();
    if (done()) {
      throw new IllegalStateException("all " + totalSteps + " steps are done; decode() or close()");
    }
    try (TensorSlot latents = TensorSlot.allocate(allocator); TensorSlot x0 = TensorSlot.allocate(allocator)) {
      stepsDone = Math.toIntExact(bridge.callForLong("session_step", handle,
          latents.arrayAddress(), latents.schemaAddress(), x0.arrayAddress(), x0.schemaAddress()));
      Tensor latentTensor = latents.take();
      Step step = new Step(stepsDone, latentTensor, x0.take());
      progress.update("sample", stepsDone, totalSteps, Double.NaN);
      return step;
    }
  }

  /** The current latents (after the last step: the final sample). Close it when done. */
  public Tensor latents() {
    checkOpen();
    return Tensor.importFrom(allocator, (array, schema) -> bridge.call("session_latents", handle, array, schema));
  }

  /**
   * Replaces the current latents (an intervention). Python takes the tensor's memory without a
   * copy, so the tensor must be 64-byte aligned and must not be changed afterwards; closing it
   * on the Java side is safe (the export keeps the memory alive while JAX uses it).
   *
   * @throws IllegalStateException if closed or the tensor is not 64-byte aligned
   * @throws io.latentlab.bridge.PythonException if the shape or dtype differ from the latents'
   */
  public void setLatents(Tensor latents) {
    checkOpen();
    handOver("session_set_latents", latents);
  }

  /** Exports {@code latents} to Python (zero-copy) and calls {@code function(handle, array, schema)}. */
  private void handOver(String function, Tensor latents) {
    try (ArrowArray array = ArrowArray.allocateNew(allocator);
        ArrowSchema schema = ArrowSchema.allocateNew(allocator)) {
      latents.exportTo(allocator, array.memoryAddress(), schema.memoryAddress());
      bridge.call(function, handle, array.memoryAddress(), schema.memoryAddress());
    }
  }

  /**
   * Goes back to before the last step, with {@code latents} at that step's starting σ, so the
   * next {@link #step()} takes it again (RePaint's resampling: re-noise the step's result to the
   * earlier σ and step again). The sampler's other state (a multistep sampler's history) is as
   * the step found it. Once per step; the tensor is taken as by {@link #setLatents}.
   *
   * @throws IllegalStateException if closed
   * @throws io.latentlab.bridge.PythonException if no step precedes it, or the shape or dtype
   *     differ from the latents'
   */
  public void rewind(Tensor latents) {
    checkOpen();
    handOver("session_rewind", latents);
    stepsDone--;
  }

  /** The current latents decoded to images {@code [B, H, W, C]} in [0, 1]. Close it when done. */
  public Tensor decode() {
    checkOpen();
    return Tensor.importFrom(allocator, (array, schema) -> bridge.call("session_decode", handle, array, schema));
  }

  /**
   * Decodes other latents with this session's VAE, e.g. a {@link Step#x0()} to see what the
   * model predicts at that step. Python reads the tensor's memory without a copy.
   *
   * @param latents {@code [B, h, w, c]} in the U-Net's scaled latent space
   * @return images {@code [B, H, W, C]} in [0, 1]; close it when done
   * @throws IllegalStateException if closed
   */
  public Tensor decode(Tensor latents) {
    checkOpen();
    try (ArrowArray in = ArrowArray.allocateNew(allocator);
        ArrowSchema inSchema = ArrowSchema.allocateNew(allocator)) {
      latents.exportTo(allocator, in.memoryAddress(), inSchema.memoryAddress());
      return Tensor.importFrom(allocator, (array, schema) -> bridge.call("session_decode_latents",
          handle, in.memoryAddress(), inSchema.memoryAddress(), array, schema));
    }
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the sampler session is closed");
    }
  }

  /** Ends the session in Python; tensors already returned stay valid until closed. */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      bridge.call("session_close", handle);
    }
  }

  /**
   * One step's output.
   *
   * @param stepsDone steps taken, this one included
   * @param latents the latents after this step, x = x0 + σε in the samplers' σ coordinates, {@code [B, h, w, c]}
   * @param x0 the model's prediction of the clean latents at this step
   */
  public record Step(int stepsDone, Tensor latents, Tensor x0) implements AutoCloseable {
    @Override
    public void close() {
      latents.close();
      x0.close();
    }
  }

}
