package io.latentlab.run;

import com.fasterxml.jackson.databind.JsonNode;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.slurm.SlurmCommands;
import io.latentlab.slurm.SlurmException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * One trial submitted to Slurm as one job ({@code ./latentlab run CONFIG --executor slurm}):
 * the job's batch step runs the same command line on the allocation's first node, which claims
 * the trial, writes the run directory and, for more than one task, starts a JAX process per
 * task with {@code srun} ({@link ProcessGroup}). The submitting process only writes the batch
 * script, submits it and, when asked to, waits, showing the run's progress from its
 * {@code metrics.jsonl}.
 *
 * <p>Files: {@code <runs>/.slurm/<experiment>/<trial>.sh} (the batch script) and
 * {@code <trial>-<job id>.log} (what the batch step printed) beside it, outside the experiment
 * folder so that listing it shows only runs. The job is submitted with {@code --requeue}: a
 * preempted job, or one on a failed node, runs again and resumes from the run's checkpoints.
 * The project, its {@code .venv} and the runs root must be on a file system the nodes share;
 * the job inherits the submitting environment (sbatch's default {@code --export=ALL}).
 */
public final class SlurmRun {
  /** The batch step's exit status for "another process holds the trial" (as a local run's). */
  public static final int CLAIMED_ELSEWHERE = RunClaimedException.EXIT_STATUS;

  private final Path home;
  private final SlurmCommands slurm;
  private final Duration pollInterval;

  /**
   * The job's shape and limits.
   *
   * @param nodes how many nodes (sbatch {@code --nodes})
   * @param tasksPerNode JAX processes per node ({@code --ntasks-per-node}); the run has
   *     {@code nodes × tasksPerNode} processes
   * @param gpusPerTask GPUs each process gets ({@code --gpus-per-task}), or null
   * @param partition the partition, or null for the cluster's default
   * @param time the time limit in Slurm's format ({@code 2:00:00}), or null
   */
  public record Resources(int nodes, int tasksPerNode, Integer gpusPerTask, String partition,
      String time) {
    /** Checks the counts. */
    public Resources {
      if (nodes < 1 || tasksPerNode < 1 || (gpusPerTask != null && gpusPerTask < 1)) {
        throw new IllegalArgumentException("--nodes, --tasks-per-node and --gpus-per-task must "
            + "be >= 1");
      }
    }

    /** How many JAX processes the job runs. */
    public int processes() {
      return nodes * tasksPerNode;
    }
  }

  /** A submitted job: its id, its batch script and the log its batch step writes. */
  public record Job(String id, Path script, Path log) {}

  /**
   * How the job ended, as the submitting process saw it.
   *
   * @param exitCode the batch step's exit status (0 completed, 1 failed, 3 claimed elsewhere),
   *     or -1 where Slurm no longer knew
   * @param state Slurm's final state ({@code COMPLETED}, {@code FAILED}, {@code CANCELLED},
   *     {@code TIMEOUT}, ...), or {@code UNKNOWN}
   */
  public record Ended(int exitCode, String state) {}

  /**
   * @param home the project (holds {@code target/latentlab.jar}; the job's working directory)
   * @param environment added to this JVM's environment for Slurm's commands and, through
   *     sbatch, the job
   * @param pollInterval how often waiting asks {@code squeue}
   */
  public SlurmRun(Path home, Map<String, String> environment, Duration pollInterval) {
    this.home = home.toAbsolutePath().normalize();
    this.slurm = new SlurmCommands(environment);
    this.pollInterval = pollInterval;
  }

  /**
   * Writes the batch script and submits it. Nothing of the trial's is written: the job's batch
   * step claims it, as any run does.
   *
   * @param trial the planned trial
   * @param runArguments the {@code run} command's arguments the batch step repeats: the config
   *     file (absolute) and overrides, {@code --runs-dir}, {@code --replicate}, {@code --rerun}
   * @throws IllegalStateException Slurm is not installed (one line saying how to install it)
   * @throws SlurmException sbatch refused the job (its message); the script is removed
   */
  public Job submit(Trial trial, List<String> runArguments, Resources resources) {
    slurm.requireInstalled();
    Path folder = folderOf(trial);
    String name = trial.id().shortId();
    Path script = folder.resolve(name + ".sh");
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dlatentlab.home=" + home, "-jar", home.resolve("target").resolve("latentlab.jar").toString(),
        "run"));
    command.addAll(runArguments);
    command.addAll(List.of("--processes", Integer.toString(resources.processes())));
    String text = """
        #!/bin/bash
        # LatentLab: experiment %s, trial %s, as one Slurm job of %d JAX process(es)
        # (./latentlab run --executor slurm). The batch step claims the trial and, for more
        # than one process, starts them as the tasks of one srun step.
        set -euo pipefail
        exec %s
        """.formatted(trial.config().name(), name, resources.processes(),
        command.stream().map(SlurmCommands::quote).collect(Collectors.joining(" ")));
    try {
      Files.createDirectories(folder);
      RunDirectory.writeAtomically(script, out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the batch script " + script, e);
    }
    List<String> options = new ArrayList<>();
    options.add("--job-name=latentlab-" + trial.config().name() + "-" + name);
    options.add("--nodes=" + resources.nodes());
    options.add("--ntasks-per-node=" + resources.tasksPerNode());
    if (resources.gpusPerTask() != null) {
      options.add("--gpus-per-task=" + resources.gpusPerTask());
    }
    if (resources.partition() != null) {
      options.add("--partition=" + resources.partition());
    }
    if (resources.time() != null) {
      options.add("--time=" + resources.time());
    }
    options.add("--output=" + folder.resolve(name + "-%j.log"));
    options.add("--open-mode=append"); // a requeued job adds to its log
    options.add("--requeue");
    options.add("--chdir=" + home);
    String id;
    try {
      id = slurm.submit(options, script);
    } catch (SlurmException e) {
      try {
        Files.deleteIfExists(script);
      } catch (IOException ignored) {
        // the refusal is what matters
      }
      throw e;
    }
    return new Job(id, script, folder.resolve(name + "-" + id + ".log"));
  }

  /**
   * Waits until the job has ended, passing the run's reports on as they reach its
   * {@code metrics.jsonl} (the losses; the stage totals come from the config).
   *
   * @param state called with Slurm's state each time it changes ({@code PENDING},
   *     {@code RUNNING}, ...)
   * @throws SlurmException squeue kept failing for {@link SlurmCommands#QUEUE_FAILURE_LIMIT}, or
   *     the wait was interrupted (the job keeps running)
   */
  public Ended await(Trial trial, Job job, ProgressListener progress,
      java.util.function.Consumer<String> state) {
    Map<String, Long> totals = Map.of("vae", (long) trial.config().train().vae().steps(),
        "unet", (long) trial.config().train().unet().steps());
    Path metrics = trial.directory().resolve(RunDirectory.METRICS);
    int seen = 0;
    String last = null;
    java.time.Instant failingSince = null;
    while (true) {
      Optional<String> now = null; // unknown while squeue fails
      try {
        now = slurm.state(job.id());
        failingSince = null;
      } catch (SlurmException e) {
        failingSince = failingSince == null ? java.time.Instant.now() : failingSince;
        if (Duration.between(failingSince, java.time.Instant.now())
            .compareTo(SlurmCommands.QUEUE_FAILURE_LIMIT) > 0) {
          throw new SlurmException("stopped waiting for Slurm job " + job.id()
              + ", which keeps running: " + e.getMessage());
        }
      }
      if (now != null && now.isPresent() && !now.get().equals(last)) {
        last = now.get();
        state.accept(last);
      }
      seen = forward(metrics, seen, totals, progress);
      if (now != null && now.isEmpty()) {
        break; // the queue no longer holds it: ended
      }
      try {
        Thread.sleep(pollInterval.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new SlurmException("interrupted while waiting for Slurm job " + job.id()
            + ", which keeps running (scancel " + job.id() + " stops it)");
      }
    }
    Optional<SlurmCommands.TaskEnd> end = slurm.end(job.id());
    return end.map(e -> new Ended(e.status(), e.state())).orElse(new Ended(-1, "UNKNOWN"));
  }

  /**
   * The trial's result once its run has completed (here, in a job, or anywhere else).
   *
   * @param reused whether the result was there before this submission
   * @return empty while the trial has not completed
   */
  public static Optional<RunResult> completed(Trial trial, boolean reused) {
    if (!RunDirectory.isCompleted(trial.directory())) {
      return Optional.empty();
    }
    return Optional.of(new RunResult(trial.directory(), RunArtifacts.toMap(
        RunArtifacts.readJson(trial.directory().resolve(RunDirectory.RESULT))), reused));
  }

  /** The error the trial's provenance records (its last run failed), or an empty string. */
  public static String recordedError(Trial trial) {
    Path provenance = trial.directory().resolve(RunDirectory.PROVENANCE);
    return Files.isRegularFile(provenance)
        ? RunArtifacts.readJson(provenance).path("error").asText("") : "";
  }

  /** Reports the lines of metrics.jsonl past the first {@code seen}; returns the new count. */
  private static int forward(Path metrics, int seen, Map<String, Long> totals,
      ProgressListener progress) {
    if (!Files.isRegularFile(metrics)) {
      return seen;
    }
    List<String> lines;
    try {
      lines = Files.readAllLines(metrics, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return seen; // being replaced by a new attempt: next time
    }
    if (lines.size() < seen) {
      seen = 0; // a requeued attempt started the file again
    }
    for (String line : lines.subList(seen, lines.size())) {
      if (!line.endsWith("}")) {
        break; // half-written
      }
      JsonNode report = RunArtifacts.readJson(line);
      String stage = report.path("stage").asText();
      progress.update(stage, report.path("step").asLong(), totals.getOrDefault(stage, 0L),
          report.path("loss").asDouble(Double.NaN));
      seen++;
    }
    return seen;
  }

  /** Where a trial's batch scripts and logs go: {@code <runs>/.slurm/<experiment>/}. */
  public static Path folderOf(Trial trial) {
    Path experiment = trial.directory().toAbsolutePath().normalize().getParent();
    return experiment.getParent().resolve(".slurm").resolve(experiment.getFileName().toString());
  }

}
