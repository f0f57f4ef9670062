package io.latentlab.run;

/**
 * Another process is running the same trial: it holds the claim on the trial's run directory.
 * The message is one line naming the trial, where it runs, and what to do.
 */
public final class RunClaimedException extends IllegalStateException {
  /**
   * The exit status of a LatentLab process that stopped because another process holds its
   * trial ({@code latentlab run}, {@code latentlab sweep-task}); the sweep executors read it
   * from their worker processes and Slurm tasks.
   */
  public static final int EXIT_STATUS = 3;

  private static final long serialVersionUID = 1L;
  private final String holder;

  RunClaimedException(String message, String holder) {
    super(message);
    this.holder = holder;
  }

  /** Who holds the claim: "host H, pid P, since T", or "holder unknown". */
  public String holder() {
    return holder;
  }
}
