package io.latentlab.cli;

import io.latentlab.run.RunDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code latentlab show RUN}: one run's provenance and result. */
@Command(
    name = "show",
    mixinStandardHelpOptions = true,
    description = {"Prints a run's provenance.json and result.json.",
        "RUN is a run directory or the start of a trial id (as 'latentlab runs' "
        + "lists it). A trial id names the trial's current run, not the earlier runs that "
        + "'run --rerun' kept as <trial>.replaced-<time>; name those by their directory."},
    footer = {"", "Examples:",
        "  ./latentlab show 7e61bed25bcc",
        "  ./latentlab show runs/quickstart/7e61bed25bcc"})
final class ShowCommand implements Callable<Integer> {
  @CommandLine.Mixin
  RunArgument run = new RunArgument();

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws IOException {
    Path dir = resolve();
    var out = spec.commandLine().getOut();
    out.println("run: " + dir);
    for (String file : List.of(RunDirectory.PROVENANCE, RunDirectory.RESULT)) {
      Path path = dir.resolve(file);
      out.println("--- " + file);
      out.println(Files.isRegularFile(path) ? Files.readString(path).strip()
          : "(none: the run did not complete)");
    }
    out.flush();
    return 0;
  }

  private Path resolve() throws IOException {
    return run.find(spec.commandLine());
  }
}
