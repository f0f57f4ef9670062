package io.latentlab.slurm;

/**
 * Slurm refused or failed a request ({@code sbatch} rejecting a job array, {@code squeue} not
 * reaching the controller). The message is one line and carries Slurm's own words; a command
 * line prints it without a stack trace.
 */
public final class SlurmException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  /** @param message one line: what failed, Slurm's message, and what to do where known */
  public SlurmException(String message) {
    super(message);
  }
}
