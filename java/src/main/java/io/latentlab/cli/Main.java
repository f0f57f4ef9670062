package io.latentlab.cli;

import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigException;
import io.latentlab.lab.UsageException;
import io.latentlab.run.RunClaimedException;
import io.latentlab.run.RunDirectory;
import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code latentlab} command line. Exit codes: 0 done, 1 the run failed, 2 bad usage or input,
 * 3 the trial is already running in another process.
 */
@Command(
    name = "latentlab",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "Latent diffusion research from Java: configs, runs with provenance, models in JAX/Flax.",
    subcommands = {RunCommand.class, RunsCommand.class, ShowCommand.class, QueryCommand.class,
        EvaluateCommand.class, DenoiseCommand.class, InpaintCommand.class, AnomalyCommand.class, ReproduceCommand.class, SweepCommand.class, SweepTaskCommand.class,
        DataCommand.class, CacheCommand.class, ImportCommand.class, SampleCommand.class, DoctorCommand.class,
        TensorBoardCommand.class, TrackCommand.class,
        CommandLine.HelpCommand.class},
    footer = {"", "Exit codes: 0 done, 1 the run failed, 2 bad usage or input,",
        "3 the trial is already running in another process.",
        "Set-up, tests and JShell are the launcher's: ./latentlab setup | demo | test | shell"})
public final class Main implements Runnable {
  /** Exit code of a failed run. */
  static final int EXIT_FAILED = 1;
  /** Exit code of bad usage or input. */
  static final int EXIT_USAGE = 2;
  /** Exit code of a trial that another process is running (it holds the run's claim). */
  static final int EXIT_RUNNING_ELSEWHERE = RunClaimedException.EXIT_STATUS;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "a command is required (try: run experiments/quickstart.yaml)");
  }

  /** The project root: {@code -Dlatentlab.home}, set by the launcher, or the working directory. */
  static Path home() {
    return Path.of(System.getProperty("latentlab.home", ".")).toAbsolutePath().normalize();
  }

  /** The runs root: {@code --runs-dir} if given, else {@code runs/} in the project. */
  static Path runsDir(Path option) {
    return option != null ? option.toAbsolutePath().normalize() : home().resolve("runs");
  }

  /**
   * A run named on the command line: its directory, or the start of its trial id. A trial id
   * names the trial's live folder {@code <runs>/<experiment>/<id>}: the earlier runs that
   * {@code run --rerun} kept beside it as {@code <id>.replaced-<time>} share its id, and are
   * chosen only when the live folder is gone and one of them is left.
   *
   * @throws CommandLine.ParameterException if it names no run or several
   */
  static Path findRun(CommandLine command, String run, Path runsDir) {
    try {
      return RunDirectory.find(runsDir(runsDir), run);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(command, e.getMessage());
    }
  }

  /**
   * The exit code of a task that failed in Python (not a refused input: that is a
   * {@link UsageException}), after printing {@code "<what> failed: <message>"}.
   */
  static int failed(CommandLine cli, String what, PythonException e) {
    cli.getErr().println(what + " failed: " + e.getMessage());
    return EXIT_FAILED;
  }

  /** Prints a usage error in one line, the message and where help is, and returns its exit code. */
  private static int usageError(CommandLine command, String message) {
    String sub = command.getCommandSpec().qualifiedName(" ").replaceFirst("^latentlab ?", "");
    command.getErr().println(message + " (see: latentlab " + (sub.isEmpty() ? "" : sub + " ") + "--help)");
    return EXIT_USAGE;
  }

  /** Builds the command line with LatentLab's error handling. */
  public static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new Main());
    cli.getSubcommands().values().forEach(sub -> {
      if (sub.getCommand() instanceof SamplingMixin.Command command) {
        SamplingMixin.adapt(sub.getCommandSpec(), command);
      }
    });
    // Wide enough for the examples' command lines; wider terminals get their own width.
    cli.setUsageHelpWidth(100);
    cli.setUsageHelpAutoWidth(true);
    cli.setExitCodeExceptionMapper(e -> e instanceof ConfigException || e instanceof UsageException
        || e instanceof CommandLine.ParameterException ? EXIT_USAGE
        : e instanceof RunClaimedException ? EXIT_RUNNING_ELSEWHERE : EXIT_FAILED);
    cli.setParameterExceptionHandler((e, args) -> usageError(e.getCommandLine(), e.getMessage()));
    cli.setExecutionStrategy(parseResult -> {
      // With --help, picocli prints the top-level help even for a command it does not know
      // (and exits 0): a typo must say so instead.
      if (parseResult.isUsageHelpRequested() && !parseResult.unmatched().isEmpty()) {
        return usageError(cli, "unknown command '" + parseResult.unmatched().get(0) + "'; the commands are: "
            + String.join(", ", cli.getSubcommands().keySet()));
      }
      return new CommandLine.RunLast().execute(parseResult);
    });
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      if (e instanceof UsageException) {
        // The same line as picocli's own usage errors: the message, then where help is.
        return usageError(commandLine, e.getMessage());
      }
      if (e instanceof ConfigException) {
        commandLine.getErr().println(e.getMessage());
        return EXIT_USAGE;
      }
      if (e instanceof RunClaimedException) {
        commandLine.getErr().println(e.getMessage());
        return EXIT_RUNNING_ELSEWHERE;
      }
      throw e;
    });
    return cli;
  }

  /** Runs the command line and exits with its code. */
  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }
}
