package io.latentlab.config;

/**
 * A mistake in an experiment config or its file: the message is one line naming the file, the
 * position where known, the key path and what is allowed. Shown to users without a stack trace.
 */
public final class ConfigException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** @param message one line: {@code file[:line:column]: key.path: problem; fix} */
  public ConfigException(String message) {
    super(message, null, false, false);
  }
}
