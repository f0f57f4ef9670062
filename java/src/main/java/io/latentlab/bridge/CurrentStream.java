package io.latentlab.bridge;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.function.Supplier;

/**
 * An output stream that writes to whatever {@code System.out} (or {@code System.err}) is at the
 * moment of writing. Python's streams are set once per JVM, while JShell and notebook kernels
 * swap {@code System.out} per snippet or cell; this keeps Python's prints in the right place.
 */
final class CurrentStream extends OutputStream {
  private final Supplier<PrintStream> target;

  private CurrentStream(Supplier<PrintStream> target) {
    this.target = target;
  }

  static CurrentStream out() {
    return new CurrentStream(() -> System.out);
  }

  static CurrentStream err() {
    return new CurrentStream(() -> System.err);
  }

  @Override
  public void write(int b) {
    target.get().write(b);
  }

  @Override
  public void write(byte[] bytes, int offset, int length) {
    target.get().write(bytes, offset, length);
  }

  @Override
  public void flush() throws IOException {
    target.get().flush();
  }
}
