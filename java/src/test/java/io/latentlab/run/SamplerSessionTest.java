package io.latentlab.run;

import io.latentlab.testing.TestProject;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.tensor.Allocators;
import io.latentlab.tensor.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sampling a really trained (tiny) model step by step from Java. */
class SamplerSessionTest {
  static final String TINY = TestProject.tinyExperiment("tiny-session", 11, 4, 6);

  @TempDir static Path runs;
  static PythonBridge bridge;
  static RunResult run;
  BufferAllocator allocator;

  @BeforeAll
  static void trainTinyModel() {
    Path home = TestProject.home();
    bridge = PythonBridge.start(home);
    Trial trial = new TrialPlanner(runs, bridge).plan(Path.of("tiny-session.yaml"),
        new ConfigLoader().parse("tiny-session.yaml", TINY), 0);
    run = TrialExecutor.inProcess(home, bridge).execute(trial, ProgressListener.NONE, false);
  }

  @BeforeEach
  void allocate() {
    allocator = Allocators.aligned();
  }

  @AfterEach
  void noLeaks() {
    assertEquals(0, allocator.getAllocatedMemory());
    allocator.close();
  }

  private SamplerOptions options() {
    List<Integer> labels = new ArrayList<>();
    ((List<?>) run.result().get("sample_labels")).forEach(label -> labels.add(((Number) label).intValue()));
    return new SamplerOptions("dpmpp_2m", 4, 11, labels, 2.0);
  }

  private SamplerSession open(List<String> progress) {
    return SamplerSession.open(bridge, run.directory(), options(), allocator,
        (stage, step, total, loss) -> progress.add(stage + " " + step + "/" + total));
  }

  @Test
  void stepwise_untouched_reproducesTheRunsOwnSamplesBitForBit() {
    List<String> progress = new ArrayList<>();
    try (SamplerSession session = open(progress)) {
      while (!session.done()) {
        try (SamplerSession.Step step = session.step()) {
          assertArrayEquals(new long[] {6, 8, 8, 4}, step.latents().shape());
          assertArrayEquals(new long[] {6, 8, 8, 4}, step.x0().shape());
        }
      }
      try (Tensor images = session.decode()) {
        assertEquals(((java.util.Map<?, ?>) run.result().get("outputs")).get("samples.png"),
            Hashing.sha256(RunArtifacts.samplesPng(images)),
            "the session's final images are the run's samples.png, byte for byte");
      }
    }
    assertEquals(List.of("sample 1/4", "sample 2/4", "sample 3/4", "sample 4/4"), progress);
  }

  @Test
  void setLatents_replacesTheLatentsAndChangesTheResult() {
    byte[] untouched;
    try (SamplerSession session = open(new ArrayList<>())) {
      while (!session.done()) {
        session.step().close();
      }
      try (Tensor images = session.decode()) {
        untouched = RunArtifacts.samplesPng(images);
      }
    }
    try (SamplerSession session = open(new ArrayList<>())) {
      session.step().close();
      float[] zeros = new float[6 * 8 * 8 * 4];
      try (Tensor replacement = Tensor.ofFloats(allocator, new long[] {6, 8, 8, 4}, zeros)) {
        session.setLatents(replacement);
      }
      try (Tensor current = session.latents()) {
        assertArrayEquals(zeros, current.toFloatArray(), "Python holds what Java set");
      }
      while (!session.done()) {
        session.step().close();
      }
      try (Tensor images = session.decode()) {
        assertFalse(java.util.Arrays.equals(untouched, RunArtifacts.samplesPng(images)));
      }
    }
  }

  @Test
  void setLatents_wrongShape_refusedByPython() {
    try (SamplerSession session = open(new ArrayList<>());
        Tensor wrong = Tensor.ofFloats(allocator, new long[] {2, 4}, new float[8])) {
      PythonException e = assertThrows(PythonException.class, () -> session.setLatents(wrong));
      assertTrue(e.getMessage().contains("expected") || e.getMessage().contains("latents must be"), e.getMessage());
    }
  }

  @Test
  void stepPastTheEnd_andClosedSession_areRefused() {
    SamplerSession session = open(new ArrayList<>());
    for (int i = 0; i < 4; i++) {
      session.step().close();
    }
    IllegalStateException end = assertThrows(IllegalStateException.class, session::step);
    assertEquals("all 4 steps are done; decode() or close()", end.getMessage());
    session.close();
    IllegalStateException closed = assertThrows(IllegalStateException.class, session::decode);
    assertEquals("the sampler session is closed", closed.getMessage());
  }

  @Test
  void open_runWithoutCheckpoint_refused(@TempDir Path empty) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SamplerSession.open(bridge, empty, options(), allocator, ProgressListener.NONE));
    assertTrue(e.getMessage().endsWith("has no checkpoint; run the experiment to completion first"));
  }

  @Test
  void open_afterTheCheckpointIsRewritten_samplesTheNewWeights(@TempDir Path scratch) throws Exception {
    // Two runs of one architecture with other seeds: other weights. Run "rewritten" is sampled
    // (Python caches its model), then its checkpoint is replaced by the other's, as --rerun
    // rewrites <run>/checkpoint in the same JVM; the next session must use the new weights.
    Path home = TestProject.home();
    TrialPlanner planner = new TrialPlanner(scratch, bridge);
    TrialExecutor executor = TrialExecutor.inProcess(home, bridge);
    ConfigLoader loader = new ConfigLoader();
    RunResult rewritten = executor.execute(planner.plan(Path.of("a.yaml"),
        loader.parse("a.yaml", TestProject.tinyExperiment("rewritten", 21, 4, 6)), 0), ProgressListener.NONE, false);
    RunResult other = executor.execute(planner.plan(Path.of("b.yaml"),
        loader.parse("b.yaml", TestProject.tinyExperiment("other", 22, 4, 6)), 0), ProgressListener.NONE, false);
    assertEquals(samplesSha(rewritten), sampledSha(rewritten.directory(), 21));

    Path checkpoint = rewritten.directory().resolve(RunDirectory.CHECKPOINT);
    try (var paths = java.nio.file.Files.walk(checkpoint)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        java.nio.file.Files.delete(p);
      }
    }
    Path source = other.directory().resolve(RunDirectory.CHECKPOINT);
    try (var paths = java.nio.file.Files.walk(source)) {
      for (Path p : paths.toList()) {
        java.nio.file.Files.copy(p, checkpoint.resolve(source.relativize(p).toString()));
      }
    }
    assertEquals(samplesSha(other), sampledSha(rewritten.directory(), 22),
        "the session sampled the rewritten checkpoint, not the cached model");
  }

  private static Object samplesSha(RunResult result) {
    return ((java.util.Map<?, ?>) result.result().get("outputs")).get("samples.png");
  }

  private String sampledSha(Path run, long seed) {
    List<Integer> labels = new ArrayList<>();
    ((List<?>) this.run.result().get("sample_labels")).forEach(l -> labels.add(((Number) l).intValue()));
    try (SamplerSession session = SamplerSession.open(bridge, run,
        new SamplerOptions("dpmpp_2m", 4, seed, labels, 2.0), allocator, ProgressListener.NONE)) {
      while (!session.done()) {
        session.step().close();
      }
      try (Tensor images = session.decode()) {
        return Hashing.sha256(RunArtifacts.samplesPng(images));
      }
    }
  }
}
