package io.latentlab.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The {@code --runs-dir} option every command that reads or writes runs shares. */
final class RunsDirOption {
  @Option(names = "--runs-dir", paramLabel = "DIR", description = "where run directories are (default: runs/ in the project)")
  Path runsDir;

  /** The runs root this option names, or the project's {@code runs/}. */
  Path resolve() {
    return Main.runsDir(runsDir);
  }
}
