package io.latentlab.sweep.slurm;

import io.latentlab.slurm.SlurmCommands;
import io.latentlab.slurm.SlurmException;

import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.SweepSpec;
import io.latentlab.sweep.execute.SweepExecutor;
import io.latentlab.sweep.execute.TaskCommand;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Runs sweeps on a Slurm cluster, and says where their trials stand there.
 *
 * <p>{@link #executor} submits a sweep's pending trials as one job array: the sweep directory
 * gets {@code slurm/submit-<n>.sh} (the batch script) and {@code slurm/submit-<n>.json} (the
 * job id and, for each array index, the plan index and trial id it runs; written before sbatch
 * runs and again with the job id after); Slurm's own logs go to
 * {@code logs/slurm-<job>_<task>.log}. The array's job name, {@code latentlab-<sweep
 * directory's name>-<n>}, is unique to the submission: a sweep killed at any moment, even
 * while sbatch runs, and run again finds its queued and running tasks (by job id, or by that
 * name) and waits for them instead of submitting their trials twice. Array task {@code i} runs
 * {@code java -Dlatentlab.home=<home> -jar <home>/target/latentlab.jar sweep-task <sweep
 * directory> <plan index>}, which claims the trial and writes its state (exit 0 completed, 1
 * failed, 3 claimed by another process). Not {@code <home>/latentlab sweep-task}: the launcher
 * sets the project up first and rebuilds the jar when a source is newer, and many array tasks
 * doing that at once in one project would race; the tasks inherit the submitting environment
 * (the launcher's, through sbatch's default {@code --export=ALL}) instead. The project, its
 * {@code .venv} and the runs root must be on a file system the nodes share. The array is
 * submitted with {@code --requeue}, so Slurm itself runs a preempted task or one on a failed
 * node again.
 *
 * <p>When waiting, the executor polls {@code squeue} until every task has ended, telling the
 * progress listener as tasks start and end. A trial whose task failed (its state says
 * {@code failed}, or the task ended without recording a result: killed at its time limit, out
 * of memory, a broken environment) is submitted again in a new array, up to the sweep file's
 * {@code slurm.retries} times. Retries default to 0: a trial that raised will most likely raise
 * again, and preemption is already covered by {@code --requeue}. A trial that ended without a
 * result is recorded {@code failed} with a line naming its task and log. Without waiting, the
 * executor prints the job id and returns; no retries follow, and running the sweep again
 * submits only the trials not yet completed.
 *
 * <p>Slurm's client commands run with this JVM's environment plus the given one (for example
 * {@code SLURM_CONF} naming a cluster's configuration). Where {@code sbatch} is missing, the
 * executor fails with one line saying how to install it.
 */
public final class SlurmExecutors {
  private SlurmExecutors() {}

  /**
   * The executor {@code latentlab sweep --executor slurm} uses: the sweep file's {@code slurm:}
   * settings, this JVM's environment, reports to {@code System.out}.
   *
   * @param home the project root
   * @param sweep the sweep file
   * @param maxParallel the array's throttle, replacing the sweep file's; null keeps it
   * @param wait wait until the array has ended (retrying failed trials)
   */
  public static SweepExecutor of(Path home, SweepSpec sweep, Integer maxParallel,
      boolean wait) {
    return builder(home).settings(sweep.slurm()).maxParallel(maxParallel)
        .waitForCompletion(wait).build();
  }

  /**
   * A Slurm executor that runs the project's {@code sweep-task} command and reports to
   * {@code System.out}.
   *
   * @param home the project root (holds {@code target/latentlab.jar}; the tasks' working
   *     directory)
   * @param settings the sweep file's {@code slurm:} section; null for the cluster's defaults
   * @param environment added to this JVM's environment for Slurm's commands (and so, through
   *     sbatch's default {@code --export=ALL}, for the tasks)
   * @param wait wait until the array has ended (retrying failed trials) instead of returning
   *     once it is submitted
   */
  public static SweepExecutor executor(Path home, SweepSpec.Slurm settings,
      Map<String, String> environment, boolean wait) {
    return builder(home).settings(settings).environment(environment).waitForCompletion(wait)
        .build();
  }

  /** A builder for a Slurm executor with more options; {@code home} is the project root. */
  public static Builder builder(Path home) {
    return new Builder(home);
  }

  /**
   * Where each submitted trial of a sweep stands in Slurm, from the job ids recorded in its
   * {@code slurm/submit-<n>.json} files (a trial submitted twice: its latest task).
   *
   * @param directory the sweep directory
   * @param environment added to this JVM's environment for {@code squeue} and {@code scontrol}
   * @return by plan index, in plan order; empty where nothing was submitted to Slurm
   * @throws IllegalStateException Slurm is not installed (one line saying how to install it)
   * @throws SlurmException the controller did not answer
   */
  public static List<SlurmTaskStatus> status(SweepDirectory directory,
      Map<String, String> environment) {
    Map<Integer, SlurmTaskStatus> latest = new TreeMap<>();
    List<SlurmSubmission> submissions = SlurmSubmission.all(directory);
    if (submissions.isEmpty()) {
      return List.of();
    }
    SlurmCommands slurm = new SlurmCommands(environment);
    slurm.requireInstalled();
    for (SlurmSubmission submission : submissions) {
      if (submission.jobId() == null) {
        continue; // its sweep was killed while sbatch ran; the next run of it looks it up
      }
      Map<Integer, String> live = slurm.queue(submission.jobId());
      Map<Integer, SlurmCommands.TaskEnd> known = new HashMap<>();
      if (live.size() < submission.indexes().size()) {
        known = slurm.tasks(submission.jobId());
      }
      for (int task = 0; task < submission.indexes().size(); task++) {
        String state = live.get(task);
        if (state == null && known.containsKey(task)) {
          state = known.get(task).state();
        }
        latest.put(submission.indexes().get(task), new SlurmTaskStatus(
            submission.indexes().get(task), submission.trials().get(task), submission.jobId(),
            task, state));
      }
    }
    return List.copyOf(new LinkedHashMap<>(latest).values());
  }

  /**
   * Prints where a sweep's submitted trials stand in Slurm, for {@code latentlab sweep status}:
   * a line per job array with its tasks counted by state, then a line per live task. Prints
   * nothing for a sweep never submitted to Slurm, and one line instead where Slurm cannot be
   * asked (not installed, controller down), so that the rest of the status still shows.
   *
   * @param out where to print
   * @param directory the sweep directory
   */
  public static void printQueue(PrintWriter out, Path directory) {
    printQueue(out, directory, Map.of());
  }

  /**
   * {@link #printQueue(PrintWriter, Path)} with additions to this JVM's environment for
   * Slurm's commands.
   */
  public static void printQueue(PrintWriter out, Path directory,
      Map<String, String> environment) {
    List<SlurmTaskStatus> tasks;
    try {
      tasks = status(SweepDirectory.open(directory), environment);
    } catch (IllegalStateException e) {
      out.println("slurm: " + e.getMessage());
      return;
    }
    Map<String, Map<String, Integer>> byJob = new LinkedHashMap<>();
    for (SlurmTaskStatus task : tasks) {
      byJob.computeIfAbsent(task.jobId(), id -> new TreeMap<>())
          .merge(task.state() == null ? "ENDED" : task.state(), 1, Integer::sum);
    }
    byJob.forEach((job, counts) -> out.printf("slurm: job array %s: %s%n", job,
        counts.entrySet().stream().map(e -> e.getValue() + " " + e.getKey())
            .collect(java.util.stream.Collectors.joining(", "))));
    for (SlurmTaskStatus task : tasks) {
      if (task.state() != null && !task.state().equals("COMPLETED")) {
        out.printf("  %s_%d  trial %s (#%d)  %s%n", task.jobId(), task.arrayIndex(),
            task.trial(), task.index(), task.state());
      }
    }
  }

  /**
   * Options of a Slurm executor; {@code home} is required, the rest optional.
   * Not thread-safe; {@link #build} may be called more than once.
   */
  public static final class Builder {
    private final Path home;
    private SweepSpec.Slurm settings;
    private Integer maxParallel;
    private Map<String, String> environment = Map.of();
    private boolean wait = true;
    private List<String> taskCommand;
    private Duration pollInterval = Duration.ofSeconds(5);
    private PrintStream messages = System.out;

    private Builder(Path home) {
      this.home = Objects.requireNonNull(home, "home");
    }

    /** The sweep file's {@code slurm:} section (null: the cluster's defaults). */
    public Builder settings(SweepSpec.Slurm settings) {
      this.settings = settings;
      return this;
    }

    /** The array's {@code %N} throttle, replacing the settings' {@code maxParallel}; null keeps it. */
    public Builder maxParallel(Integer maxParallel) {
      if (maxParallel != null && maxParallel < 1) {
        throw new IllegalArgumentException("--max-parallel must be >= 1, got " + maxParallel);
      }
      this.maxParallel = maxParallel;
      return this;
    }

    /** Added to this JVM's environment for Slurm's commands and the tasks. */
    public Builder environment(Map<String, String> environment) {
      this.environment = Map.copyOf(environment);
      return this;
    }

    /** Wait for the array to end, retrying failed trials (default), or return once submitted. */
    public Builder waitForCompletion(boolean wait) {
      this.wait = wait;
      return this;
    }

    /**
     * The command each array task runs, before the two arguments it is given (the sweep
     * directory and the plan index); default {@code java -Dlatentlab.home=<home> -jar
     * <home>/target/latentlab.jar sweep-task}, with this JVM's {@code java}. It must
     * claim the trial, write its state file and exit 0 (completed), 1 (failed) or 3 (claimed
     * by another process).
     */
    public Builder taskCommand(List<String> command) {
      if (command.isEmpty()) {
        throw new IllegalArgumentException("the task command is empty: give at least the program");
      }
      this.taskCommand = List.copyOf(command);
      return this;
    }

    /** How often {@code squeue} is asked while waiting (default 5 s). */
    public Builder pollInterval(Duration interval) {
      if (interval.isNegative() || interval.isZero()) {
        throw new IllegalArgumentException("poll interval " + interval + " must be positive");
      }
      this.pollInterval = interval;
      return this;
    }

    /** Where the executor prints its lines (job ids, retries); default {@code System.out}. */
    public Builder messages(PrintStream messages) {
      this.messages = Objects.requireNonNull(messages, "messages");
      return this;
    }

    /** The executor. */
    public SweepExecutor build() {
      Path project = home.toAbsolutePath().normalize();
      List<String> command = taskCommand != null ? taskCommand
          : TaskCommand.program(project);
      SweepSpec.Slurm chosen = settings == null
          ? new SweepSpec.Slurm(null, null, null, null, null, null, null, null, null) : settings;
      if (maxParallel != null) {
        chosen = new SweepSpec.Slurm(chosen.partition(), chosen.time(), chosen.memory(),
            chosen.cpus(), chosen.gpus(), maxParallel, chosen.retries(), chosen.nodes(),
            chosen.tasksPerNode());
      }
      return new SlurmSweepExecutor(home, chosen, environment, wait, command, pollInterval,
          messages);
    }
  }
}
