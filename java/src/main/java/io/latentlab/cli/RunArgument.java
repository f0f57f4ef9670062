package io.latentlab.cli;

import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Parameters;

/** The RUN argument (a run directory or a trial id prefix) of show and reproduce. */
final class RunArgument {
  @Parameters(index = "0", paramLabel = "RUN", description = "a run directory or a trial id prefix")
  String run;

  @CommandLine.Mixin
  RunsDirOption runs = new RunsDirOption();

  /** The run's directory; a usage error if RUN names none or several. */
  Path find(CommandLine command) throws IOException {
    return Main.findRun(command, run, runs.runsDir);
  }
}
