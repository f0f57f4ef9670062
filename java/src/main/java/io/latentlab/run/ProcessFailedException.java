package io.latentlab.run;

/** A process of a multi-process run failed: the message names it, its last line and its log. */
public final class ProcessFailedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public ProcessFailedException(String message) {
    super(message);
  }
}
