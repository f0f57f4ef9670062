package io.latentlab.bridge;

/**
 * A Python call that stopped early because its caller was interrupted: a notebook's interrupt
 * button, a JShell Ctrl-C, or {@link Thread#interrupt()} on the calling thread. Long work
 * (training, evaluation, a sweep trial) stops at its next progress report; what it saved so far
 * (a run's checkpoints) stays, so running it again resumes there. The calling thread's interrupt
 * status is set when this is thrown.
 */
public final class CallInterruptedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  CallInterruptedException(String function, Throwable cause) {
    super("interrupted: " + function + " stopped at its next progress report", cause);
  }
}
