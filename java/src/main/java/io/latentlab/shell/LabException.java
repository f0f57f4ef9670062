package io.latentlab.shell;

/**
 * What {@link Lab} throws for anything that went wrong, in one line and without a stack trace,
 * so that JShell shows one line and the session goes on: a config mistake names its file and
 * key, a Python error its type and message. {@code lab.verbose(true)} throws the original
 * exception instead (with its Java stack trace, after printing the Python traceback).
 */
public final class LabException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** @param message one line saying what went wrong and, where it helps, what to do */
  LabException(String message) {
    // No cause and no stack trace: JShell prints both, and neither helps the user.
    super(message, null, false, false);
  }
}
