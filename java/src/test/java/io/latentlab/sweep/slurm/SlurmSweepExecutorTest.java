package io.latentlab.sweep.slurm;

import io.latentlab.slurm.SlurmCommands;
import io.latentlab.slurm.SlurmException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.sweep.SweepDirectory;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.SweepSpec;
import io.latentlab.sweep.TrialState;
import io.latentlab.sweep.execute.SweepExecutor;
import io.latentlab.testing.LocalSlurm;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Slurm executor against a real one-node cluster ({@link LocalSlurm}). The array tasks run a
 * stand-in for {@code latentlab sweep-task}: a bash script that follows its contract (writes
 * the trial's state file atomically, exits 0, 1 or 3) as each test tells it to, per plan index.
 */
class SlurmSweepExecutorTest {
  private static LocalSlurm slurm;

  @TempDir Path temp;
  private Path task;
  private SweepDirectory directory;
  private final ByteArrayOutputStream printed = new ByteArrayOutputStream();
  private final Recorder progress = new Recorder();

  @BeforeAll
  static void startCluster() {
    slurm = LocalSlurm.startIfInstalled();
  }

  /** Tests tagged so need no cluster (they check what happens without one). */
  private static final String NO_CLUSTER = "no-cluster";

  @BeforeEach
  void needsSlurm(TestInfo test) {
    if (!test.getTags().contains(NO_CLUSTER)) {
      LocalSlurm.assumeRunning(slurm);
    }
  }

  @AfterAll
  static void stopCluster() {
    if (slurm != null) {
      slurm.close();
    }
  }

  @BeforeEach
  void prepare() throws IOException {
    task = temp.resolve("task");
    Files.createDirectories(task);
    Files.writeString(task.resolve("sweep-task"), STAND_IN);
    Files.setPosixFilePermissions(task.resolve("sweep-task"),
        PosixFilePermissions.fromString("rwxr-xr-x"));
    directory = SweepDirectory.open(temp.resolve("runs/sweeps/tiny-000000000000"));
  }

  @Test
  void execute_throttledArray_allTrialsCompleted() throws IOException {
    SweepPlan plan = plan(3, slurmSettings(null, 1, 0));
    behave(plan, "complete", "complete", "complete");

    executor(plan, true).execute(plan, directory, plan.trials(), progress);

    for (SweepPlan.PlannedTrial trial : plan.trials()) {
      assertEquals(TrialState.COMPLETED, state(trial).state(), trial.trial());
    }
    assertEquals(3, progress.started.size());
    assertEquals(List.of("completed", "completed", "completed"), progress.endedStates());
    assertEquals(1, maxOverlap(), "at most one task at a time (%1): " + spans());
    SlurmSubmission submission = SlurmSubmission.all(directory).get(0);
    assertEquals(List.of(0, 1, 2), submission.indexes());
    assertTrue(Files.readString(directory.path().resolve("slurm/submit-1.sh"))
        .contains("PLAN_INDEXES=(0 1 2)"));
    assertTrue(Files.exists(directory.path().resolve(
        "logs/slurm-" + submission.jobId() + "_0.log")));
  }

  @Test
  void execute_tasksPerNode_eachArrayTaskIsAJobOfThatManyTasks() throws IOException {
    SweepSpec.Slurm settings = new SweepSpec.Slurm(null, "00:05:00", null, 1, null, null, null, 1, 2);
    SweepPlan plan = plan(1, settings);
    behave(plan, "complete");

    executor(plan, true).execute(plan, directory, plan.trials(), progress);

    assertEquals("2", Files.readString(task.resolve("tasks-0")).strip(),
        "the array task's batch step sees its 2 tasks (TrialRunner runs the trial over them)");
  }

  @Test
  void execute_failingTask_retriedThenRecordedFailed() throws IOException {
    SweepPlan plan = plan(2, slurmSettings(null, null, 1));
    behave(plan, "complete", "fail");

    executor(plan, true).execute(plan, directory, plan.trials(), progress);

    TrialState failed = state(plan.trials().get(1));
    assertEquals(TrialState.FAILED, failed.state());
    assertEquals("boom", failed.error());
    assertEquals(2, attempts(1), "one retry");
    assertEquals(1, attempts(0), "the completed trial is not run again");
    List<SlurmSubmission> submissions = SlurmSubmission.all(directory);
    assertEquals(2, submissions.size());
    assertEquals(List.of(1), submissions.get(1).indexes());
    assertEquals(1, submissions.get(1).attempt());
    // ended once each: the retried trial only when no retry was left
    assertEquals(List.of("completed", "failed"), progress.endedStates());
  }

  @Test
  void execute_taskDiesWithoutResult_recordedFailedNamingItsLog() {
    SweepPlan plan = plan(1, slurmSettings(null, null, 0));
    behave(plan, "die");

    executor(plan, true).execute(plan, directory, plan.trials(), progress);

    TrialState failed = state(plan.trials().get(0));
    assertEquals(TrialState.FAILED, failed.state());
    String jobId = SlurmSubmission.all(directory).get(0).jobId();
    assertTrue(failed.error().contains("Slurm task " + jobId + "_0 ended FAILED (exit 7:0)"),
        failed.error());
    assertTrue(failed.error().endsWith("see logs/slurm-" + jobId + "_0.log"), failed.error());
    assertEquals(Map.of("steps", 10), failed.axes());
    assertEquals(List.of("failed"), progress.endedStates());
  }

  @Test
  void execute_claimedElsewhere_neitherFailedNorRetried() {
    SweepPlan plan = plan(1, slurmSettings(null, null, 2));
    behave(plan, "busy");

    executor(plan, true).execute(plan, directory, plan.trials(), progress);

    assertFalse(directory.state(plan.trials().get(0).trial()).isPresent());
    assertEquals(1, SlurmSubmission.all(directory).size());
    assertEquals(List.of(plan.trials().get(0).trial() + ": running elsewhere"), progress.skipped);
    assertEquals(List.of(), progress.endedStates());
  }

  @Test
  void execute_sbatchRefuses_clearErrorNothingCompleted() {
    SweepPlan plan = plan(2, slurmSettings("no-such-partition", null, 0));
    behave(plan, "complete", "complete");

    SlurmException e = assertThrows(SlurmException.class,
        () -> executor(plan, true).execute(plan, directory, plan.trials(), progress));

    assertTrue(e.getMessage().startsWith("sweep tiny: sbatch refused the job"),
        e.getMessage());
    assertTrue(e.getMessage().contains("invalid partition"), e.getMessage());
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    assertEquals(Map.of(), directory.states(plan));
    assertEquals(List.of(), SlurmSubmission.all(directory));
  }

  @Test
  void execute_resubmitted_submitsOnlyNonCompletedTrials() {
    SweepPlan plan = plan(3, slurmSettings(null, null, 0));
    behave(plan, "complete", "fail", "complete");
    executor(plan, true).execute(plan, directory, plan.trials(), progress);
    assertEquals(TrialState.FAILED, state(plan.trials().get(1)).state());

    behave(plan, "complete", "complete", "complete");
    executor(plan, true).execute(plan, directory, plan.trials(), progress);

    assertEquals(List.of(1), SlurmSubmission.all(directory).get(1).indexes());
    for (SweepPlan.PlannedTrial trial : plan.trials()) {
      assertEquals(TrialState.COMPLETED, state(trial).state(), trial.trial());
    }
    assertEquals(List.of(1, 2, 1), List.of(attempts(0), attempts(1), attempts(2)));
  }

  @Test
  void execute_noWait_printsJobIdAndStatusFollowsIt() throws InterruptedException {
    SweepPlan plan = plan(2, slurmSettings(null, null, 0));
    behave(plan, "complete", "complete");

    executor(plan, false).execute(plan, directory, plan.trials(), progress);

    String jobId = SlurmSubmission.all(directory).get(0).jobId();
    assertTrue(printed().contains("submitted 2 trials as Slurm job array " + jobId), printed());
    List<SlurmTaskStatus> status = SlurmExecutors.status(directory, slurm.environment());
    assertEquals(List.of(0, 1), status.stream().map(SlurmTaskStatus::index).toList());
    assertEquals(plan.trials().get(1).trial(), status.get(1).trial());
    assertNotNull(status.get(0).state());
    java.io.StringWriter queue = new java.io.StringWriter();
    SlurmExecutors.printQueue(new java.io.PrintWriter(queue), directory.path(), slurm.environment());
    assertTrue(queue.toString().startsWith("slurm: job array " + jobId + ": "), queue.toString());
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (!status.stream().allMatch(s -> "COMPLETED".equals(s.state()))
        && System.nanoTime() < deadline) {
      Thread.sleep(250);
      status = SlurmExecutors.status(directory, slurm.environment());
    }
    assertEquals(List.of("COMPLETED", "COMPLETED"),
        status.stream().map(SlurmTaskStatus::state).toList());
    assertEquals(TrialState.COMPLETED, state(plan.trials().get(0)).state());
    queue = new java.io.StringWriter();
    SlurmExecutors.printQueue(new java.io.PrintWriter(queue), directory.path(), slurm.environment());
    assertEquals("slurm: job array " + jobId + ": 2 COMPLETED\n", queue.toString());
  }

  @Test
  void printQueue_slurmUnreachable_oneLineInsteadOfFailing() {
    SweepPlan plan = plan(1, slurmSettings(null, null, 0));
    new SlurmSubmission(1, "999999", java.time.Instant.now(), 0, List.of(0),
        List.of(plan.trials().get(0).trial())).write(directory);
    java.io.StringWriter queue = new java.io.StringWriter();

    SlurmExecutors.printQueue(new java.io.PrintWriter(queue), directory.path(),
        Map.of("PATH", "/nonexistent"));

    assertEquals("slurm: " + SlurmCommands.INSTALL + "\n", queue.toString());
  }

  @Test
  @Tag(NO_CLUSTER)
  void execute_slurmMissing_oneLineSayingHowToInstall() {
    SweepPlan plan = plan(1, slurmSettings(null, null, 0));
    SweepExecutor executor = SlurmExecutors.builder(temp).environment(Map.of("PATH", "/nonexistent"))
        .build();

    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> executor.execute(plan, directory, plan.trials(), progress));

    assertEquals("Slurm is not installed here (no sbatch on PATH): apt-get install slurm-wlm "
        + "munge, or use another executor", e.getMessage());
  }

  // --- helpers

  /** Follows sweep-task's contract; behaviour and trial ids per plan index in files beside it. */
  private static final String STAND_IN = """
      #!/bin/bash
      set -eu
      dir=$1; index=$2; here=$(dirname "$0")
      trial=$(sed -n "$((index + 1))p" "$here/trials")
      behaviour=$(sed -n "$((index + 1))p" "$here/behaviour")
      attempts=$(( $(cat "$here/attempts-$index" 2>/dev/null || echo 0) + 1 ))
      echo "$attempts" > "$here/attempts-$index"
      start=$(date +%s.%N)
      state=completed; error=null; code=0
      case "$behaviour" in
        fail) state=failed; error='"boom"'; code=1 ;;
        die) echo "killed before writing a state" >&2; exit 7 ;;
        busy) exit 3 ;;
      esac
      sleep 0.5
      tmp="$dir/trials/.$trial.json.tmp"
      printf '{"sweep":"tiny","trial":"%s","index":%d,"kind":"sampling","state":"%s","error":%s,"attempts":%d,"updated_at":"%s","axes":{"steps":%d},"metrics":{"fid":1.5},"directory":null}\\n' \\
        "$trial" "$index" "$state" "$error" "$attempts" "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" \\
        "$((10 + index))" > "$tmp"
      mv "$tmp" "$dir/trials/$trial.json"
      echo "$start $(date +%s.%N)" >> "$here/spans"
      echo "${SLURM_NTASKS:-unset}" > "$here/tasks-$index"
      exit "$code"
      """;

  private SweepExecutor executor(SweepPlan plan, boolean wait) {
    return SlurmExecutors.builder(temp)
        .settings(plan.spec().slurm())
        .environment(slurm.environment())
        .waitForCompletion(wait)
        .taskCommand(List.of(task.resolve("sweep-task").toString()))
        .pollInterval(Duration.ofMillis(200))
        .messages(new PrintStream(printed, true, StandardCharsets.UTF_8))
        .build();
  }

  private static SweepSpec.Slurm slurmSettings(String partition, Integer maxParallel,
      Integer retries) {
    return new SweepSpec.Slurm(partition, "00:05:00", null, 1, null, maxParallel, retries, null, null);
  }

  private static SweepPlan plan(int trials, SweepSpec.Slurm settings) {
    List<Object> steps = IntStream.range(0, trials).mapToObj(i -> (Object) (10 + i)).toList();
    SweepSpec spec = new SweepSpec(Path.of("sweep.yaml"), "tiny", "0123456789ab", null,
        Map.of("sample.steps", steps), Map.of(), null, 1, new SweepSpec.Evaluate(8, 4), 100,
        settings);
    List<SweepPlan.PlannedTrial> planned = IntStream.range(0, trials)
        .mapToObj(i -> new SweepPlan.PlannedTrial(i, "%012x".formatted(0xabc000 + i),
            Map.of("sample.steps", 10 + i), List.of("sample.steps=" + (10 + i)), 0,
            Path.of("/runs/tiny/0123456789ab")))
        .toList();
    return new SweepPlan(spec, Path.of("/runs/tiny/0123456789ab"), planned);
  }

  private void behave(SweepPlan plan, String... behaviour) {
    try {
      Files.write(task.resolve("trials"),
          plan.trials().stream().map(SweepPlan.PlannedTrial::trial).toList());
      Files.write(task.resolve("behaviour"), List.of(behaviour));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private TrialState state(SweepPlan.PlannedTrial trial) {
    return directory.state(trial.trial()).orElseThrow(() -> new AssertionError(
        "trial " + trial.trial() + " has no state; cluster logs:\n" + slurm.logTails()));
  }

  private int attempts(int index) {
    try {
      return Integer.parseInt(Files.readString(task.resolve("attempts-" + index)).strip());
    } catch (IOException e) {
      return 0;
    }
  }

  private List<double[]> spans() {
    try (Stream<String> lines = Files.lines(task.resolve("spans"))) {
      return lines.map(l -> l.split(" "))
          .map(p -> new double[] {Double.parseDouble(p[0]), Double.parseDouble(p[1])})
          .toList();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** The most tasks whose spans overlap at one moment. */
  private int maxOverlap() {
    List<double[]> spans = spans();
    int most = 0;
    for (double[] span : spans) {
      double moment = span[0];
      int running = (int) spans.stream().filter(s -> s[0] <= moment && moment < s[1]).count();
      most = Math.max(most, running);
    }
    return most;
  }

  private String printed() {
    return printed.toString(StandardCharsets.UTF_8);
  }

  /** Records what the executor reports. */
  private static final class Recorder implements SweepExecutor.SweepProgress {
    final List<String> started = new ArrayList<>();
    final List<TrialState> ended = new ArrayList<>();
    final List<String> skipped = new ArrayList<>();

    @Override
    public void started(SweepPlan.PlannedTrial trial) {
      started.add(trial.trial());
    }

    @Override
    public void ended(SweepPlan.PlannedTrial trial, TrialState state) {
      ended.add(state);
    }

    @Override
    public void skipped(SweepPlan.PlannedTrial trial, String reason) {
      skipped.add(trial.trial() + ": " + reason);
    }

        List<String> endedStates() {
      return ended.stream().map(TrialState::state).toList();
    }
  }
}
