package io.latentlab.sweep.slurm;

import io.latentlab.slurm.SlurmCommands;
import io.latentlab.slurm.SlurmException;

import io.latentlab.run.RunClaimedException;
import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.SweepSpec;
import io.latentlab.sweep.TrialState;
import io.latentlab.sweep.execute.SweepExecutor;
import io.latentlab.sweep.execute.TrialRunner;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Runs a sweep's pending trials as one Slurm job array per round (see {@link SlurmExecutors}).
 * Each array task runs the task command ({@code latentlab.jar sweep-task}) with the sweep
 * directory and its plan index; that command claims the trial and writes its state. This class
 * only submits, watches and, where a task ended without recording a result, records the trial
 * failed.
 */
final class SlurmSweepExecutor implements SweepExecutor {
  /** The task command's exit status for "claimed by another process". */
  private static final int CLAIMED_ELSEWHERE = RunClaimedException.EXIT_STATUS;

  private final Path home;
  private final SweepSpec.Slurm settings;
  private final SlurmCommands slurm;
  private final boolean wait;
  private final List<String> taskCommand;
  private final Duration pollInterval;
  private final PrintStream messages;

  SlurmSweepExecutor(Path home, SweepSpec.Slurm settings, Map<String, String> environment,
      boolean wait, List<String> taskCommand, Duration pollInterval, PrintStream messages) {
    this.home = home.toAbsolutePath().normalize();
    this.settings = settings;
    this.slurm = new SlurmCommands(environment);
    this.wait = wait;
    this.taskCommand = List.copyOf(taskCommand);
    this.pollInterval = pollInterval;
    this.messages = messages;
  }

  /**
   * {@inheritDoc}
   *
   * <p>Trials still queued or running in an array that an earlier run of this sweep submitted
   * (that run was killed, even while sbatch ran, or used {@code --no-wait}) are waited for,
   * never submitted again; trials another process runs are skipped.
   *
   * @throws IllegalStateException Slurm is not installed (one line saying how to install it)
   * @throws SlurmException sbatch refused the array (its message), or the controller stopped
   *     answering while waiting; no trial is recorded completed by this executor
   */
  @Override
  public void execute(SweepPlan plan, SweepDirectory directory,
      List<SweepPlan.PlannedTrial> pending, SweepProgress progress) {
    // A trial completed since the caller listed it (by another executor, or an earlier array
    // of this sweep) is never submitted again.
    List<SweepPlan.PlannedTrial> notCompleted = pending.stream()
        .filter(t -> !directory.state(t.trial()).map(s -> s.state().equals(TrialState.COMPLETED))
            .orElse(false))
        .toList();
    if (notCompleted.isEmpty()) {
      return;
    }
    slurm.requireInstalled();
    List<Watch> watching = new ArrayList<>(inQueue(directory, notCompleted));
    Set<String> queued = new HashSet<>();
    watching.forEach(w -> w.tasks().values().forEach(t -> queued.add(t.trial())));
    List<SweepPlan.PlannedTrial> round = new ArrayList<>();
    for (SweepPlan.PlannedTrial trial : notCompleted) {
      if (queued.contains(trial.trial())) {
        continue;
      }
      if (TrialRunner.isClaimed(plan, trial)) {
        progress.skipped(trial, "running elsewhere");
      } else {
        round.add(trial);
      }
    }
    for (Watch earlier : watching) {
      messages.printf("sweep %s: %d trial%s already in Slurm job array %s (submitted by an "
              + "earlier run of this sweep), not submitted again%s%n", plan.name(),
          earlier.tasks().size(), earlier.tasks().size() == 1 ? "" : "s",
          earlier.submission().jobId(), wait ? "; waiting for them" : "");
    }
    int retries = settings.retries() == null ? 0 : Math.max(0, settings.retries());
    for (int attempt = 0; ; attempt++) {
      if (!round.isEmpty()) {
        SlurmSubmission submission = submit(plan, directory, round, attempt);
        watching.add(Watch.of(submission, round));
        if (!wait) {
          messages.printf("sweep %s: submitted %d trial%s as Slurm job array %s%s; "
                  + "follow it with: ./latentlab sweep status %s%n", plan.name(), round.size(),
              round.size() == 1 ? "" : "s", submission.jobId(), throttle(), plan.name());
        } else {
          messages.printf("sweep %s: %d trial%s running as Slurm job array %s%s%s%n",
              plan.name(), round.size(), round.size() == 1 ? "" : "s", submission.jobId(),
              throttle(), attempt == 0 ? "" : " (retry " + attempt + " of " + retries + ")");
        }
      }
      if (!wait || watching.isEmpty()) {
        return;
      }
      List<SweepPlan.PlannedTrial> failed =
          await(plan, directory, watching, progress, attempt == retries);
      if (failed.isEmpty() || attempt == retries) {
        return;
      }
      round = failed;
      watching = new ArrayList<>();
    }
  }

  /**
   * The array tasks of this sweep's earlier submissions that Slurm still holds (pending or
   * running) for any of {@code trials}; a trial submitted more than once counts in its latest
   * array. A submission whose job id was never recorded (the sweep was killed while sbatch
   * ran) is looked up by its job name, and its record completed.
   *
   * @throws SlurmException squeue failed: better to stop than to submit trials twice
   */
  private List<Watch> inQueue(SweepDirectory directory, List<SweepPlan.PlannedTrial> trials) {
    List<SlurmSubmission> submissions = new ArrayList<>(SlurmSubmission.all(directory));
    if (submissions.isEmpty()) {
      return List.of();
    }
    Map<String, SweepPlan.PlannedTrial> byId = new LinkedHashMap<>();
    trials.forEach(t -> byId.put(t.trial(), t));
    Set<String> seen = new HashSet<>();
    List<Watch> live = new ArrayList<>();
    java.util.Collections.reverse(submissions); // newest first
    for (SlurmSubmission recorded : submissions) {
      SlurmSubmission submission = recorded;
      if (submission.jobId() == null) {
        Optional<String> found = slurm.findByName(jobName(directory, submission.number()));
        if (found.isEmpty()) {
          continue; // sbatch never got it through, or it has ended
        }
        submission = submission.withJobId(found.get());
        submission.write(directory);
      }
      Map<Integer, SweepPlan.PlannedTrial> tasks = new TreeMap<>();
      for (Integer task : slurm.queue(submission.jobId()).keySet()) {
        if (task < submission.trials().size()) {
          SweepPlan.PlannedTrial trial = byId.get(submission.trials().get(task));
          if (trial != null && seen.add(trial.trial())) {
            tasks.put(task, trial);
          }
        }
      }
      if (!tasks.isEmpty()) {
        live.add(new Watch(submission, tasks));
      }
    }
    java.util.Collections.reverse(live);
    return live;
  }

  /**
   * A job name unique to one submission of one sweep directory, so that a run that was killed
   * before it could record the job id finds the job in the queue.
   */
  static String jobName(SweepDirectory directory, int number) {
    return "latentlab-" + directory.path().getFileName() + "-" + number;
  }

  /** A submitted array and the tasks of it being waited for: array index → trial. */
  private record Watch(SlurmSubmission submission, Map<Integer, SweepPlan.PlannedTrial> tasks) {
    static Watch of(SlurmSubmission submission, List<SweepPlan.PlannedTrial> trials) {
      Map<Integer, SweepPlan.PlannedTrial> tasks = new TreeMap<>();
      for (int task = 0; task < trials.size(); task++) {
        tasks.put(task, trials.get(task));
      }
      return new Watch(submission, tasks);
    }
  }

  private String throttle() {
    return settings.maxParallel() == null ? "" : ", at most " + settings.maxParallel() + " at a time";
  }

  private SlurmSubmission submit(SweepPlan plan, SweepDirectory directory,
      List<SweepPlan.PlannedTrial> trials, int attempt) {
    int number = SlurmSubmission.next(directory);
    List<Integer> indexes = trials.stream().map(SweepPlan.PlannedTrial::index).toList();
    directory.write(SlurmSubmission.file(number, "sh"),
        script(plan, directory, number, indexes).getBytes(StandardCharsets.UTF_8));
    List<String> options = new ArrayList<>();
    options.add("--array=0-" + (trials.size() - 1)
        + (settings.maxParallel() == null ? "" : "%" + settings.maxParallel()));
    String name = jobName(directory, number);
    options.add("--job-name=" + name);
    options.add("--output=" + directory.path().resolve(SweepDirectory.LOGS)
        .resolve("slurm-%A_%a.log"));
    options.add("--open-mode=append"); // a requeued task adds to its log instead of erasing it
    options.add("--requeue"); // preempted or on a failed node: Slurm runs it again itself
    options.add("--chdir=" + home);
    if (settings.partition() != null) {
      options.add("--partition=" + settings.partition());
    }
    if (settings.time() != null) {
      options.add("--time=" + settings.time());
    }
    if (settings.memory() != null) {
      options.add("--mem=" + settings.memory());
    }
    if (settings.cpus() != null) {
      options.add("--cpus-per-task=" + settings.cpus());
    }
    if (settings.gpus() != null) {
      options.add("--gpus-per-task=" + settings.gpus());
    }
    if (settings.nodes() != null) {
      options.add("--nodes=" + settings.nodes());
    }
    if (settings.tasksPerNode() != null) { // the trial runs over its tasks (TrialRunner)
      options.add("--ntasks-per-node=" + settings.tasksPerNode());
    }
    // Recorded before sbatch runs: a sweep killed while sbatch runs leaves this record
    // without a job id, and the next run finds the job by its name instead of submitting
    // the trials again.
    SlurmSubmission intended = new SlurmSubmission(number, null, Instant.now(), attempt,
        indexes, trials.stream().map(SweepPlan.PlannedTrial::trial).toList());
    intended.write(directory);
    String jobId;
    try {
      jobId = slurm.submit(options, directory.path().resolve(SlurmSubmission.file(number, "sh")));
    } catch (SlurmException e) {
      // sbatch can fail after the controller took the job (a reply that timed out): look
      // before forgetting the record; where squeue cannot tell either, keep it for the next run.
      Optional<String> taken;
      try {
        taken = slurm.findByName(name);
      } catch (IllegalStateException unanswered) { // SlurmException too
        throw new SlurmException("sweep " + plan.name() + ": " + e.getMessage()
            + " (check the sweep file's slurm: settings; if the controller took the array "
            + "after all, running the sweep again finds it)");
      }
      if (taken.isEmpty()) {
        intended.delete(directory);
        throw new SlurmException("sweep " + plan.name() + ": " + e.getMessage()
            + " (check the sweep file's slurm: settings)");
      }
      jobId = taken.get();
    }
    SlurmSubmission submission = intended.withJobId(jobId);
    submission.write(directory);
    return submission;
  }

  private String script(SweepPlan plan, SweepDirectory directory, int number,
      List<Integer> indexes) {
    String command = taskCommand.stream().map(SlurmCommands::quote)
        .collect(Collectors.joining(" "));
    return """
        #!/bin/bash
        # Sweep %s, Slurm submission %d: array task i runs the plan's trial PLAN_INDEXES[i]
        # (submit-%d.json holds the same list with the trial ids and the job id).
        set -euo pipefail
        PLAN_INDEXES=(%s)
        exec %s %s "${PLAN_INDEXES[$SLURM_ARRAY_TASK_ID]}"
        """.formatted(plan.name(), number, number,
        indexes.stream().map(String::valueOf).collect(Collectors.joining(" ")),
        command, SlurmCommands.quote(directory.path().toString()));
  }

  /**
   * Waits until every watched task has ended, reporting progress; records failed the trials
   * whose task ended without a result.
   *
   * @param last no retry follows: failed trials are reported ended
   * @return the trials that failed (those running elsewhere are not among them)
   */
  private List<SweepPlan.PlannedTrial> await(SweepPlan plan, SweepDirectory directory,
      List<Watch> watching, SweepProgress progress, boolean last) {
    Set<String> started = new HashSet<>();
    Map<Watch, Map<Integer, SweepPlan.PlannedTrial>> running = new LinkedHashMap<>();
    watching.forEach(w -> running.put(w, new TreeMap<>(w.tasks())));
    List<SweepPlan.PlannedTrial> failed = new ArrayList<>();
    Instant queueFailingSince = null;
    while (!running.isEmpty()) {
      for (var watched : List.copyOf(running.entrySet())) {
        SlurmSubmission submission = watched.getKey().submission();
        Map<Integer, SweepPlan.PlannedTrial> tasks = watched.getValue();
        Map<Integer, String> live;
        try {
          live = slurm.queue(submission.jobId());
          queueFailingSince = null;
        } catch (SlurmException e) {
          Instant now = Instant.now();
          queueFailingSince = queueFailingSince == null ? now : queueFailingSince;
          if (Duration.between(queueFailingSince, now)
              .compareTo(SlurmCommands.QUEUE_FAILURE_LIMIT) > 0) {
            throw new SlurmException("sweep " + plan.name() + ": stopped waiting for job array "
                + submission.jobId() + ", which keeps running: " + e.getMessage());
          }
          continue;
        }
        Map<Integer, SlurmCommands.TaskEnd> ends = null;
        for (var task : List.copyOf(tasks.entrySet())) {
          String state = live.get(task.getKey());
          String trialId = task.getValue().trial();
          if (state != null && !state.equals("PENDING") && started.add(trialId)) {
            progress.started(task.getValue());
          }
          if (state == null) {
            if (started.add(trialId)) {
              progress.started(task.getValue()); // it ran between two polls
            }
            if (ends == null) {
              ends = slurm.tasks(submission.jobId());
            }
            tasks.remove(task.getKey());
            Optional<TrialState> outcome = outcome(plan, directory, submission, task.getKey(),
                task.getValue(), ends.get(task.getKey()));
            if (outcome.isEmpty()) {
              progress.skipped(task.getValue(), "running elsewhere");
              continue;
            }
            if (outcome.get().state().equals(TrialState.COMPLETED)) {
              progress.ended(task.getValue(), outcome.get());
            } else {
              failed.add(task.getValue());
              if (last) {
                progress.ended(task.getValue(), outcome.get());
              }
            }
          }
        }
        if (tasks.isEmpty()) {
          running.remove(watched.getKey());
        }
      }
      if (!running.isEmpty()) {
        sleep(running.keySet().iterator().next().submission());
      }
    }
    return failed;
  }

  /**
   * The state a trial's ended task left: its own, or failed (written here) where the task
   * ended without recording one; empty where another process holds the trial.
   */
  private Optional<TrialState> outcome(SweepPlan plan, SweepDirectory directory,
      SlurmSubmission submission, int arrayIndex, SweepPlan.PlannedTrial trial,
      SlurmCommands.TaskEnd end) {
    Optional<TrialState> state = directory.state(trial.trial());
    // Written by this submission's task, not left over from an earlier attempt (states record
    // seconds or finer; allow a second for clocks that differ between nodes).
    boolean fresh = state.isPresent() && state.get().updatedAt() != null
        && !state.get().updatedAt().isBefore(submission.submittedAt().minusSeconds(1));
    if (state.isPresent() && state.get().state().equals(TrialState.COMPLETED)) {
      return state;
    }
    if (fresh && state.get().state().equals(TrialState.FAILED)) {
      return state;
    }
    if (end != null && end.status() == CLAIMED_ELSEWHERE) {
      return Optional.empty();
    }
    String log = directory.path().relativize(directory.path().resolve(SweepDirectory.LOGS)
        .resolve("slurm-" + submission.jobId() + "_" + arrayIndex + ".log")).toString();
    String error = "its Slurm task " + submission.jobId() + "_" + arrayIndex + " ended"
        + (end == null ? "" : " " + end.state() + " (exit " + end.exitCode() + ")")
        + " without recording a result; see " + log;
    TrialState failed = state
        .map(s -> s.with(TrialState.FAILED, error, s.attempts() + (fresh ? 0 : 1), s.metrics()))
        .orElseGet(() -> new TrialState(plan.name(), trial.trial(), trial.index(), plan.kind(),
            TrialState.FAILED, error, 1, Instant.now(), axesByColumn(plan, trial), Map.of(),
            trial.directory() == null ? null : trial.directory().toString()));
    directory.writeState(failed);
    return Optional.of(failed);
  }

  private static Map<String, Object> axesByColumn(SweepPlan plan, SweepPlan.PlannedTrial trial) {
    Map<String, Object> axes = new LinkedHashMap<>();
    plan.columns().forEach((path, column) -> {
      if (trial.axes().containsKey(path)) {
        axes.put(column, trial.axes().get(path));
      }
    });
    return axes;
  }

  private void sleep(SlurmSubmission submission) {
    try {
      Thread.sleep(pollInterval.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new SlurmException("interrupted while waiting for Slurm job array "
          + submission.jobId() + ", which keeps running (scancel " + submission.jobId()
          + " stops it)");
    }
  }

}
