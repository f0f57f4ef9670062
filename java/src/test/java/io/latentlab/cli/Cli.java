package io.latentlab.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** Runs the CLI in this JVM and keeps what it printed, for tests. */
final class Cli {
  private Cli() {}

  /** What a command did: its exit code and its two streams. */
  record Outcome(int exitCode, String out, String err) {}

  /** Runs {@code latentlab args...} with LatentLab's error handling. */
  static Outcome execute(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));
    int code = cli.execute(args);
    return new Outcome(code, out.toString(), err.toString());
  }
}
