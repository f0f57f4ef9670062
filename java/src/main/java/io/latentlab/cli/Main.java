package io.latentlab.cli;

import io.latentlab.config.ConfigException;
import io.latentlab.run.RunClaimedException;
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
        EvaluateCommand.class, ReproduceCommand.class,
        CommandLine.HelpCommand.class},
    footer = {"", "Exit codes: 0 done, 1 the run failed, 2 bad usage or input, 3 the trial is "
        + "already running in another process.",
        "Set-up and tests are the launcher's: ./latentlab setup | demo | test"})
public final class Main implements Runnable {
  /** Exit code of a failed run. */
  static final int EXIT_FAILED = 1;
  /** Exit code of bad usage or input. */
  static final int EXIT_USAGE = 2;
  /** Exit code of a trial that another process is running (it holds the run's claim). */
  static final int EXIT_RUNNING_ELSEWHERE = 3;

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
  static Path findRun(CommandLine command, String run, Path runsDir) throws java.io.IOException {
    Path direct = Path.of(run);
    if (java.nio.file.Files.isRegularFile(direct.resolve("provenance.json"))) {
      return direct.toAbsolutePath().normalize();
    }
    if (!run.matches("[0-9a-f]{4,64}")) {
      throw new CommandLine.ParameterException(command,
          "'" + run + "' is neither a run directory nor a trial id (4+ hex digits)");
    }
    Path root = runsDir(runsDir);
    String prefix = run.substring(0, Math.min(run.length(), 12));
    java.util.List<Path> matches;
    try (java.util.stream.Stream<Path> dirs = java.nio.file.Files.isDirectory(root)
        ? java.nio.file.Files.walk(root, 2) : java.util.stream.Stream.empty()) {
      matches = dirs.filter(p -> p.getNameCount() == root.getNameCount() + 2)
          .filter(p -> p.getFileName().toString().startsWith(prefix))
          .filter(p -> java.nio.file.Files.isRegularFile(p.resolve("provenance.json")))
          .sorted()
          .toList();
    }
    // One trial (same experiment folder, same id) may have a live folder and replaced ones.
    java.util.Set<Path> trials = new java.util.HashSet<>();
    for (Path match : matches) {
      trials.add(match.resolveSibling(match.getFileName().toString().split("\\.", 2)[0]));
    }
    if (trials.size() == 1) {
      Path live = trials.iterator().next();
      if (matches.contains(live) || matches.size() == 1) {
        return matches.contains(live) ? live : matches.get(0);
      }
    }
    throw new CommandLine.ParameterException(command, matches.isEmpty()
        ? String.format("no run under %s matches '%s'", root, run)
        : String.format("%d runs under %s match '%s' (%s); give more digits or the directory",
            matches.size(), root, run, String.join(", ", matches.stream()
                .map(p -> root.relativize(p).toString()).toList())));
  }

  /** Builds the command line with LatentLab's error handling. */
  public static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new Main());
    // Wide enough for the examples' command lines; wider terminals get their own width.
    cli.setUsageHelpWidth(100);
    cli.setUsageHelpAutoWidth(true);
    cli.setExitCodeExceptionMapper(e -> e instanceof ConfigException
        || e instanceof CommandLine.ParameterException ? EXIT_USAGE
        : e instanceof RunClaimedException ? EXIT_RUNNING_ELSEWHERE : EXIT_FAILED);
    cli.setParameterExceptionHandler((e, args) -> {
      CommandLine command = e.getCommandLine();
      command.getErr().println(e.getMessage() + " (see: latentlab "
          + command.getCommandSpec().qualifiedName(" ").replaceFirst("^latentlab ?", "") + " --help)");
      return EXIT_USAGE;
    });
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
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
