package io.latentlab.lab;

/**
 * A request a task refuses before doing any work: a bad option value, a run that cannot be used,
 * an input file that is missing. Its message is one line that names the option (as the command
 * line spells it, e.g. {@code --heldout}) or the key, and says what to do. The CLI prints it and
 * exits with 2; the JShell facade turns it into its one-line {@code LabException}.
 */
public final class UsageException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** @param message one line: the option or key, what is wrong, what to do */
  public UsageException(String message) {
    // No stack trace: the message says all a user needs, and both skins print one line.
    super(message, null, false, false);
  }
}
