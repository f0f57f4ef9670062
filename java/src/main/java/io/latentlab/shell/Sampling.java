package io.latentlab.shell;

import io.latentlab.bridge.ProgressListener;
import io.latentlab.run.SamplerOptions;
import io.latentlab.run.SamplerSession;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorScope;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;

/**
 * A stepwise sampler in JShell, from {@code lab.sampler(run)...open()}: wraps
 * {@link SamplerSession} so that each call is one line and its tensors need no bookkeeping.
 *
 * <pre>{@code
 * s.step(5);                  // five steps
 * s.x0();                     // the model's prediction of the clean latents now
 * s.setLatents(lab.tensor(shape, values));   // an intervention
 * s.finish().save("samples.png");
 * }</pre>
 *
 * <p>Latents are in the U-Net's scaled latent space, {@code [B, h, w, c]}, in the samplers' σ
 * coordinates (x = x0 + σε). Every tensor it hands out belongs to its scope, is valid until the
 * session closes (or the lab does) and is then closed with it; tensors it does not hand out are
 * freed as it goes. Use from one thread.
 */
public final class Sampling implements AutoCloseable {
  private final Lab lab;
  private final Run run;
  private final SamplerOptions options;
  private final SamplerSession session;
  private final TensorScope scope;
  private SamplerSession.Step last;
  private boolean lastHandedOut;

  private Sampling(Lab lab, Run run, SamplerOptions options, SamplerSession session, TensorScope scope) {
    this.lab = lab;
    this.run = run;
    this.options = options;
    this.session = session;
    this.scope = scope;
  }

  static Sampling open(Lab lab, Run run, SamplerOptions options, TensorScope scope) {
    SamplerSession session;
    try {
      session = SamplerSession.open(lab.bridge(), run.directory(), options, scope.allocator(),
          ProgressListener.NONE);
    } catch (RuntimeException e) {
      scope.close();
      throw e;
    }
    Sampling sampling = new Sampling(lab, run, options, session, scope);
    scope.attach((AutoCloseable) sampling::closeSession);
    return sampling;
  }

  /**
   * Takes one step.
   *
   * @return this session (its {@code toString} says where it is)
   * @throws LabException after the last step or once closed
   */
  public Sampling step() {
    return lab.guard(() -> {
      SamplerSession.Step step = session.step();
      releaseLast();
      last = step;
      lastHandedOut = false;
      return this;
    });
  }

  /** Takes {@code count} steps (fewer if the sampler ends first). */
  public Sampling step(int count) {
    for (int i = 0; i < count && !session.done(); i++) {
      step();
    }
    return this;
  }

  /** Takes the remaining steps. */
  public Sampling finish() {
    return step(session.totalSteps());
  }

  /** Steps taken so far. */
  public int stepsDone() {
    return session.stepsDone();
  }

  /** Steps the sampler takes in all. */
  public int totalSteps() {
    return session.totalSteps();
  }

  /** True once every step is taken. */
  public boolean done() {
    return session.done();
  }

  /** The current latents {@code [B, h, w, c]} (after the last step: the final sample). */
  public Tensor latents() {
    return lab.guard(() -> scope.attach(session.latents()));
  }

  /**
   * The model's prediction of the clean latents at the last step.
   *
   * @throws LabException before the first step
   */
  public Tensor x0() {
    return lab.guard(() -> {
      if (last == null) {
        throw new IllegalStateException("no step taken yet: x0 is predicted by a step; call step() first");
      }
      if (!lastHandedOut) {
        lastHandedOut = true;
        scope.attach(last);
      }
      return last.x0();
    });
  }

  /**
   * Replaces the current latents (an intervention); the next step starts from them. The tensor
   * must have the latents' shape and be 64-byte aligned (any tensor of a {@link TensorScope},
   * e.g. {@code lab.tensor(shape, values)}); Python takes its memory without a copy, so do not
   * change it afterwards.
   *
   * @return this session
   * @throws LabException if the shape differs (Python names both) or the session is closed
   */
  public Sampling setLatents(Tensor latents) {
    return lab.guard(() -> {
      session.setLatents(Objects.requireNonNull(latents, "latents: give a tensor, e.g. lab.tensor(shape, values)"));
      return this;
    });
  }

  /**
   * Goes back to before the last step, starting again from {@code latents} at that step's σ
   * (RePaint's resampling: re-noise a step's result and take the step again); the sampler's
   * other state is as the step found it. Once per step; the tensor is taken as by
   * {@link #setLatents}.
   *
   * @return this session
   * @throws LabException if no step precedes it, the shape differs or the session is closed
   */
  public Sampling rewind(Tensor latents) {
    return lab.guard(() -> {
      session.rewind(Objects.requireNonNull(latents, "latents: give a tensor, e.g. lab.tensor(shape, values)"));
      return this;
    });
  }

  /** The current latents decoded to images {@code [B, H, W, 1]} in [0, 1]. */
  public Tensor decode() {
    return lab.guard(() -> scope.attach(session.decode()));
  }

  /**
   * Decodes other latents with this run's VAE, e.g. {@link #x0()} to see what the model predicts
   * at this step.
   *
   * @param latents {@code [B, h, w, c]} in the U-Net's scaled latent space
   * @return images {@code [B, H, W, 1]} in [0, 1], owned by this session's scope
   */
  public Tensor decode(Tensor latents) {
    return lab.guard(() -> scope.attach(session.decode(
        Objects.requireNonNull(latents, "latents: give a tensor, e.g. sampling.x0()"))));
  }

  /**
   * Decodes the current latents and writes them as a PNG grid (8 to a row); prints the path.
   *
   * @param file a relative path is taken from the working directory
   * @return the file, absolute
   */
  public Path save(String file) {
    return lab.guard(() -> {
      Objects.requireNonNull(file, "file: give a .png path");
      try (Tensor images = session.decode()) {
        return lab.saveGrid(images, Path.of(file));
      }
    });
  }

  /** The scope that owns this session's tensors. */
  public TensorScope scope() {
    return scope;
  }

  private void releaseLast() {
    if (last != null && !lastHandedOut) {
      last.close();
    }
    last = null;
  }

  private void closeSession() {
    releaseLast();
    session.close();
  }

  /** Ends the session and closes every tensor it handed out. Closing again does nothing. */
  @Override
  public void close() {
    lab.guard(() -> {
      scope.close();
      return null;
    });
  }

  /** E.g. {@code Sampling dpmpp_2m step 5/20, 3 samples, guidance 3.0, run f11618248513}. */
  @Override
  public String toString() {
    return String.format(Locale.ROOT, "Sampling %s step %d/%d, %d samples, guidance %s, run %s%s",
        options.sampler(), session.stepsDone(), session.totalSteps(), options.labels().size(),
        options.guidanceScale(), run.trialId(), scope.isClosed() ? " (closed)" : "");
  }
}
