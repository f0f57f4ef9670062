package io.latentlab.sweep.execute;

import io.latentlab.run.RunClaimedException;
import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.SweepPlan;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code latentlab sweep-task SWEEP_DIR INDEX} command line that runs one trial in its own
 * process (worker processes here, Slurm array tasks in {@code io.latentlab.sweep.slurm}). The
 * task claims the trial, writes its state file and exits 0 (completed), 1 (failed) or
 * {@value RunClaimedException#EXIT_STATUS} (claimed by another process).
 *
 * <p>It runs the built jar, not the {@code latentlab} launcher: the launcher sets the project up
 * first and rebuilds the jar when a source is newer, and many tasks doing that at once in one
 * project would race.
 */
public final class TaskCommand {
  /** The built jar, relative to the project root (the launcher and the Maven build agree). */
  private static final String JAR = "target/latentlab.jar";

  private TaskCommand() {}

  /** The built jar of a project: {@code <home>/target/latentlab.jar}. */
  public static Path jar(Path home) {
    return home.resolve(JAR);
  }

  /**
   * The command without its two arguments (the sweep directory and the plan index):
   * {@code java -Dlatentlab.home=<home> -jar <home>/target/latentlab.jar sweep-task}, with this
   * JVM's {@code java}.
   */
  public static List<String> program(Path home) {
    return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dlatentlab.home=" + home, "-jar", jar(home).toString(), "sweep-task");
  }

  static List<String> of(Path home, SweepDirectory directory, SweepPlan.PlannedTrial trial) {
    List<String> command = new ArrayList<>(program(home));
    command.add(directory.path().toString());
    command.add(Integer.toString(trial.index()));
    return command;
  }

  static Process start(Path home, SweepDirectory directory, SweepPlan.PlannedTrial trial) {
    try {
      return new ProcessBuilder(of(home, directory, trial)).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(directory.log(trial.trial()).toFile()))
          .start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start a worker process for trial " + trial.trial(), e);
    }
  }
}
