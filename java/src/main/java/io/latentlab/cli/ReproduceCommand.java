package io.latentlab.cli;

import io.latentlab.lab.ProgressBars;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.run.Reproduction;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code latentlab reproduce RUN}: run it again from what it recorded, and compare. */
@Command(
    name = "reproduce",
    mixinStandardHelpOptions = true,
    header = "Runs a completed run again from what it recorded and lists every difference.",
    description = {"Runs a completed run again from its recorded config.yaml (into "
        + "<runs>/.reproductions/<time>/) and prints every difference: trial id, config, git, "
        + "Java and Python versions, data hashes, metrics (timings aside) and output hashes.",
        "Exit 0 when samples.png and latents.arrow are byte for byte the same, 1 otherwise."},
    footer = {"", "Examples:",
        "  ./latentlab reproduce 7e61bed25bcc",
        "  ./latentlab reproduce runs/quickstart/7e61bed25bcc"})
final class ReproduceCommand implements Callable<Integer> {
  @CommandLine.Mixin
  RunArgument run = new RunArgument();

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    Path dir = run.find(spec.commandLine());
    Reproduction result;
    try (ProgressBars bars = new ProgressBars()) {
      result = Reproduction.of(Main.home(), PythonBridge.start(Main.home()), dir, bars);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
    out.println("original:     " + result.original());
    out.println("reproduction: " + result.reproduction());
    if (result.differences().isEmpty()) {
      out.println("identical: trial id, config, versions, data, metrics and outputs");
    } else {
      out.println(result.differences().size() + " differences:");
      result.differences().forEach(line -> out.println("  " + line));
    }
    out.println(result.outputsIdentical() ? "outputs identical: samples.png, latents.arrow"
        : "outputs differ");
    out.flush();
    return result.outputsIdentical() ? 0 : Main.EXIT_FAILED;
  }
}
