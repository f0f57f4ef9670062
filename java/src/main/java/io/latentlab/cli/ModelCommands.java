package io.latentlab.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import picocli.CommandLine;

/**
 * The commands that apply a trained model (denoise, inpaint, anomaly) for callers in this JVM,
 * such as the JShell facade: the same options, checks, progress bars and stored results as on
 * the command line, run with the JVM's embedded Python.
 */
public final class ModelCommands {
  /** The commands this runs. */
  public static final Set<String> NAMES = Set.of(DenoiseCommand.KIND, InpaintCommand.KIND, AnomalyCommand.KIND);

  private ModelCommands() {}

  /**
   * What a command did.
   *
   * @param exitCode as on the command line: 0 done, 1 failed, 2 bad options
   * @param result the result file {@code RUN/<command>/<settings id>.json} when done, else null
   */
  public record Outcome(int exitCode, Path result) {}

  /**
   * Runs {@code latentlab <command> <run> <options...>}, printing what the command line prints.
   *
   * @param command one of {@link #NAMES}
   * @param run the run's directory
   * @throws IllegalArgumentException if {@code command} is not one of them
   */
  public static Outcome execute(String command, Path run, List<String> options, PrintWriter out, PrintWriter err) {
    if (!NAMES.contains(command)) {
      throw new IllegalArgumentException("not a model command: " + command + "; use one of " + NAMES);
    }
    CommandLine cli = Main.commandLine();
    cli.setOut(out);
    cli.setErr(err);
    List<String> args = new ArrayList<>(List.of(command, run.toString()));
    args.addAll(options);
    int code = cli.execute(args.toArray(String[]::new));
    StoredResult stored = ((ResultCommand) cli.getSubcommands().get(command).getCommand()).stored();
    return new Outcome(code, code == 0 && stored != null ? stored.file() : null);
  }
}
