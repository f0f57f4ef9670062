package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.testing.TestProject;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code evaluate} on a real (tiny, barely trained) run: real classifier, real FID. */
class EvaluateCommandTest {
  @TempDir static Path dir;
  static Path run;

  /** The in-JVM CLI runner every CLI test shares. */
  private static Cli.Outcome execute(String... args) {
    return Cli.execute(args);
  }

  @BeforeAll
  static void tinyRun() throws IOException {
    Path config = dir.resolve("tiny-eval.yaml");
    Files.writeString(config, TestProject.tinyExperiment("tiny-eval", 3, 3, 4));
    Cli.Outcome outcome = execute("run", config.toString(), "--runs-dir", dir.resolve("runs").toString());
    assertEquals(0, outcome.exitCode(), outcome.err());
    try (Stream<Path> found = Files.list(dir.resolve("runs").resolve("tiny-eval"))) {
      run = found.findFirst().orElseThrow();
    }
  }

  private static List<Path> evaluations() throws IOException {
    try (Stream<Path> files = Files.list(run)) {
      return files.filter(f -> f.getFileName().toString().startsWith("evaluation-")).sorted().toList();
    }
  }

  @Test
  void evaluate_scoresAnUntrainedModelFarAboveTheFloor_andKeepsEveryEvaluation() throws IOException {
    int before = evaluations().size();
    Cli.Outcome outcome = execute("evaluate", run.toString(), "--samples", "40", "--steps", "4");
    assertEquals(0, outcome.exitCode(), outcome.err());
    assertTrue(outcome.out().contains("dpmpp_2m, 4 steps (4 NFE)"), outcome.out());
    Cli.Outcome again = execute("evaluate", run.toString(), "--samples", "40", "--sampler", "heun",
        "--steps", "3");
    assertEquals(0, again.exitCode(), again.err());
    assertTrue(again.out().contains("heun, 3 steps (5 NFE)"), again.out());
    List<Path> written = evaluations();
    assertEquals(before + 2, written.size(), "each evaluation is its own file");
    JsonNode score = new ObjectMapper().readTree(written.get(written.size() - 1).toFile()).get("score");
    // Four training steps make noise, not digits: far above the floor of real held-out digits.
    assertTrue(score.get("fid_floor").asDouble() > 0);
    assertTrue(score.get("fid_over_floor").asDouble() > 5, score.toString());
    assertTrue(score.get("classifier_heldout_accuracy").asDouble() > 0.95, score.toString());
    assertEquals(40, score.get("num_samples").asInt());
  }

  @Test
  void evaluate_badOptions_oneLineExit2() throws IOException {
    int before = evaluations().size();
    for (String[] args : List.of(
        new String[] {"evaluate", run.toString(), "--samples", "5000"},
        new String[] {"evaluate", run.toString(), "--report", "/etc/passwd", "--nfe-table"},
        new String[] {"evaluate", run.toString(), "--report", "docs/x.md"},
        new String[] {"evaluate", dir.resolve("nowhere").toString()})) {
      Cli.Outcome outcome = execute(args);
      assertEquals(2, outcome.exitCode(), String.join(" ", args) + ": " + outcome.err());
      assertEquals(1, outcome.err().lines().count(), outcome.err());
    }
    assertEquals(before, evaluations().size(), "nothing written");
  }
}
