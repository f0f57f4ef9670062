package io.latentlab.bridge;

/**
 * Receives progress from long Python work (training, sampling). Python calls it on the bridge's
 * interpreter thread, so implementations must be quick and must not call back into the bridge.
 */
@FunctionalInterface
public interface ProgressListener {
  /** A listener that ignores progress, for callers that show none. */
  ProgressListener NONE = (stage, step, total, loss) -> { };

  /**
   * @param stage what is running, e.g. {@code vae}, {@code unet}, {@code sample}
   * @param step steps done so far in this stage
   * @param total steps this stage will take
   * @param loss the latest training loss, or NaN where there is none
   */
  void update(String stage, long step, long total, double loss);
}
