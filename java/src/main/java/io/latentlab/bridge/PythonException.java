package io.latentlab.bridge;

/**
 * An exception raised in Python, carried into Java with its Python type, message and traceback.
 * Its cause is the Python exception it was raised from ({@code raise ... from}, or raised while
 * handling), as another {@code PythonException}; the innermost cause is Jep's own exception.
 */
public final class PythonException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final String pythonType;
  private final String pythonMessage;
  private final String traceback;

  PythonException(String pythonType, String pythonMessage, String traceback, Throwable cause) {
    super(pythonType + ": " + pythonMessage, cause);
    this.pythonType = pythonType;
    this.pythonMessage = pythonMessage;
    this.traceback = traceback;
  }

  /** The Python exception's qualified type, e.g. {@code ValueError} or {@code jax.errors.X}. */
  public String pythonType() {
    return pythonType;
  }

  /** The Python exception's message ({@code str(exception)}). */
  public String pythonMessage() {
    return pythonMessage;
  }

  /** The Python traceback, innermost call last, as Python prints it (chained causes included);
   * empty for a cause. */
  public String traceback() {
    return traceback;
  }
}
