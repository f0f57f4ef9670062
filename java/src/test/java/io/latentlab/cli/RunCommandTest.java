package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/** The CLI end to end in this JVM: real config parsing, real Python, real files. */
class RunCommandTest {
  static final String TINY = TestProject.tinyExperiment("tiny", 1, 3, 10);

  @TempDir Path dir;

  /** The in-JVM CLI runner every CLI test shares. */
  private static Cli.Outcome execute(String... args) {
    return Cli.execute(args);
  }

  @Test
  void run_processesThatCannotStart_exit2NamingTheKey_nothingWritten() throws IOException {
    Path file = config(TINY);
    // 3 processes share no device count this JVM's Python can have here (1, 2 or 4) evenly.
    Cli.Outcome devices = execute("run", file.toString(), "--processes", "3", "--runs-dir",
        runs().toString());
    assertEquals(2, devices.exitCode(), devices.err());
    assertTrue(devices.err().contains("execution.processes: 3 processes do not share this host's"),
        devices.err());
    try (java.net.ServerSocket taken = new java.net.ServerSocket(0)) {
      Cli.Outcome port = execute("run", file.toString(), "execution.coordinator=127.0.0.1:"
          + taken.getLocalPort(), "--processes", "2", "--runs-dir", runs().toString());
      assertEquals(2, port.exitCode(), port.err());
      assertTrue(port.err().contains("execution.coordinator: port " + taken.getLocalPort()
          + " is taken on this host"), port.err());
    }
    Cli.Outcome elsewhere = execute("run", file.toString(), "execution.coordinator=192.0.2.7:4000",
        "--processes", "2", "--runs-dir", runs().toString());
    assertEquals(2, elsewhere.exitCode(), elsewhere.err());
    assertTrue(elsewhere.err().contains("execution.coordinator: 192.0.2.7 is not this host"),
        elsewhere.err());
    assertFalse(Files.exists(runs().resolve("tiny")), "nothing written");
  }

  /**
   * {@code latentlab tensorboard RUNS} serves the run's events: TensorBoard's HTTP API lists
   * the run and gives the U-Net's losses of metrics.jsonl; stopping the command stops it.
   */
  private static void servesTensorBoardEvents(Path runs, Path run) throws Exception {
    assertTrue(Files.isDirectory(run.resolve("tensorboard")), "the run wrote TensorBoard events");
    try (TensorBoardProbe board = new TensorBoardProbe(java.util.Map.of(), runs.toString())) {
      assertTrue(board.firstLine.contains("(runs under " + runs + ")"), board.firstLine);
      String name = "tiny/" + run.getFileName() + "/tensorboard";
      assertTrue(board.get("data/runs").contains(name), "lists the run as " + name);
      JsonNode rows = new ObjectMapper().readTree(board.get("data/plugin/scalars/scalars?tag="
          + java.net.URLEncoder.encode("unet/loss", java.nio.charset.StandardCharsets.UTF_8) + "&run="
          + java.net.URLEncoder.encode(name, java.nio.charset.StandardCharsets.UTF_8)));
      List<JsonNode> losses = new java.util.ArrayList<>();
      for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
        JsonNode report = new ObjectMapper().readTree(line);
        if (report.get("stage").asText().equals("unet")) {
          losses.add(report);
        }
      }
      assertEquals(losses.size(), rows.size(), rows.toString());
      for (int i = 0; i < rows.size(); i++) { // [wall time, step, value], the value in float32
        assertEquals(losses.get(i).get("step").asLong(), rows.get(i).get(1).asLong());
        assertEquals(losses.get(i).get("loss").asDouble(), rows.get(i).get(2).asDouble(),
            1e-6 * Math.abs(losses.get(i).get("loss").asDouble()));
      }
    }
  }

  private Path config(String yaml) throws IOException {
    Path file = dir.resolve("config.yaml");
    Files.writeString(file, yaml);
    return file;
  }

  private Path runs() {
    return dir.resolve("runs");
  }

  private static String readQuietly(Path file) {
    try {
      return Files.readString(file);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static long filesUnder(Path root) throws IOException {
    if (!Files.exists(root)) {
      return 0;
    }
    try (Stream<Path> files = Files.walk(root)) {
      return files.filter(Files::isRegularFile).count();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "name: tiny\nsample: {stepz: 3}\n",
      "name: tiny\nseed: 1\nseed: 2\n",
      "name: tiny\nseed: abc\n",
      "name: tiny\nseed: 1.5\n",
      "name: tiny\ntrain: {vae: {learning_rate: .nan}}\n",
      "name: tiny\ntrain: {vae: {batch_size: 99999999}}\n",
      "name: tiny\nsample: {eta: -0.5}\n",
      "name: tiny\ndata: {dataset: imagenet}\n",
      "name: ../escape\n",
      "seed: 3\n",
      "",
      "   \n\n",
      "name: !!java.net.URL [\"http://example.com\"]\n",
      "name: tiny\nseed: !!python/object/apply:os.system [\"true\"]\n",
      "!!javax.script.ScriptEngineManager [!!java.net.URLClassLoader [[]]]\n",
      "name: tiny\nmodel: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
      "name: tiny\na0: &a0 [x, x, x, x, x, x, x, x, x]\na1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\na2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\na3: [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]\n",
      "name: tiny\n  seed: : 3\n",
      "extends: ../../etc/passwd\nname: tiny\n",
      "extends: missing.yaml\nname: tiny\n",
      "name: tiny\nseed: [1]\n",
      "name: tiny\ntrain: {unet: {steps: -1}}\n",
      "name: tiny\nmodel: {vae: {chanels: 8}}\n",
      "name: tiny\nmodel: {unet: {channels: eight}}\n",
      "name: tiny\nmodel: {unet: {prediction: noise}}\n",
      "name: tiny\nmodel: {transformer: {}}\n",
      "name: tiny\nsample: {sampler: magic}\n",
      "name: tiny\ndiffusion: {beta_schedule: quadratic}\n",
      "name: tiny\nsample: {spacing: cosine}\n",
      "name: tiny\nsample: {rho: 0}\n",
      "name: tiny\ntrain: {unet: {loss_weighting: snr}}\n",
      "name: tiny\ndata: {dataset: mnist-idx}\n",
      "name: tiny\ndata: {dataset: mnist-idx, path: ../../data}\n",
      "name: tiny\ndata: {dataset: mnist-idx, path: /etc}\n",
      "name: tiny\ndata: {dataset: mnist-idx, path: no/such/folder}\n",
      "name: tiny\ndata: {path: data/mnist}\n",
      "name: tiny\nmodel: {unet: {channels: -1}}\n",
      "name: tiny\nmodel: {vae: {channels: 0}}\n",
      "name: tiny\ndata: {holdout: 9995}\n",
  })
  void run_badConfig_oneLineExit2WritesNothing(String yaml) throws IOException {
    Path file = config(yaml);
    Cli.Outcome outcome = execute("run", file.toString(), "--runs-dir", runs().toString());
    assertEquals(2, outcome.exitCode(), outcome.err());
    List<String> lines = outcome.err().lines().toList();
    assertEquals(1, lines.size(), "one line: " + outcome.err());
    assertTrue(lines.get(0).startsWith(file.toString()), lines.get(0));
    assertEquals(0, filesUnder(runs()), "nothing written");
  }

  @Test
  void run_binaryAndNonUtf8Files_oneLineExit2WritesNothing() throws IOException {
    for (byte[] content : List.of(new byte[] {0, (byte) 0xff, 0x13, 0x37}, "name: caf\u00e9\n".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1))) {
      Path file = dir.resolve("config.yaml");
      Files.write(file, content);
      Cli.Outcome outcome = execute("run", file.toString(), "--runs-dir", runs().toString());
      assertEquals(2, outcome.exitCode(), outcome.err());
      assertEquals(1, outcome.err().lines().count(), outcome.err());
      assertEquals(0, filesUnder(runs()));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "train.unet.steps=-1", "train.unet.stepz=3", "seed=abc", "seed", "Train.steps=1",
      "name.first=x", "sample.sampler=magic", "model.vae.channels=many", "seed=!!java.net.URL [x]",
      "model.unet.channels=-1", "data.holdout=10000",
  })
  void run_badOverride_oneLineExit2WritesNothing(String override) throws IOException {
    Path file = config("name: tiny\n");
    Cli.Outcome outcome = execute("run", file.toString(), override, "--runs-dir", runs().toString());
    assertEquals(2, outcome.exitCode(), outcome.err());
    List<String> lines = outcome.err().lines().toList();
    assertEquals(1, lines.size(), outcome.err());
    assertTrue(lines.get(0).contains(override.split("=")[0]), lines.get(0));
    assertEquals(0, filesUnder(runs()));
  }

  @ParameterizedTest
  @ValueSource(strings = {"--runs-dir", "--no-such-option", "--rerun=maybe", "--replicate=-1", "--replicate=x"})
  void run_badOption_isUsageErrorExit2(String option) throws IOException {
    Path file = config("name: tiny\n");
    Cli.Outcome outcome = execute("run", file.toString(), option);
    assertEquals(2, outcome.exitCode(), outcome.err());
    assertEquals(1, outcome.err().lines().count(), outcome.err());
    assertTrue(outcome.err().strip().endsWith("(see: latentlab run --help)"), outcome.err());
    assertEquals(0, filesUnder(runs()));
  }

  @Test
  void run_missingFile_exit2() {
    Cli.Outcome outcome = execute("run", dir.resolve("absent.yaml").toString(), "--runs-dir", runs().toString());
    assertEquals(2, outcome.exitCode());
    assertTrue(outcome.err().strip().endsWith("no such file; check the path (configs live in experiments/)"), outcome.err());
  }

  @Test
  void run_noArguments_isUsageErrorExit2() {
    Cli.Outcome outcome = execute("run");
    assertEquals(2, outcome.exitCode());
    assertTrue(outcome.err().contains("Missing required parameter: 'CONFIG'"), outcome.err());
  }

  @Test
  void help_listsExamplesAndExitCodes() {
    Cli.Outcome outcome = execute("run", "--help");
    assertEquals(0, outcome.exitCode());
    assertTrue(outcome.out().contains("./latentlab run experiments/quickstart.yaml"), outcome.out());
    Cli.Outcome top = execute("--help");
    assertTrue(top.out().contains("Exit codes: 0 done, 1 the run failed, 2 bad usage or input,\n"
        + "3 the trial is already running in another process."), top.out());
  }

  @Test
  void run_tinyExperiment_writesRunDirectoryThenReusesIt() throws Exception {
    Path file = config(TINY);
    Cli.Outcome first = execute("run", file.toString(), "--runs-dir", runs().toString());
    assertEquals(0, first.exitCode(), first.err());

    Path experiment = runs().resolve("tiny");
    List<Path> trials;
    try (Stream<Path> list = Files.list(experiment)) {
      trials = list.toList();
    }
    assertEquals(1, trials.size(), "one run directory, no staging left behind: " + trials);
    assertEquals("rwxr-xr-x", java.nio.file.attribute.PosixFilePermissions.toString(
        Files.getPosixFilePermissions(trials.get(0))), "run folders are readable by the team, like their files");
    Path run = trials.get(0);
    assertTrue(run.getFileName().toString().matches("[0-9a-f]{12}"), run.toString());
    for (String name : List.of("config.yaml", "provenance.json", "metrics.jsonl", "samples.png",
        "latents.arrow", "result.json")) {
      assertTrue(Files.isRegularFile(run.resolve(name)), name);
    }
    ObjectMapper json = new ObjectMapper();
    JsonNode result = json.readTree(run.resolve("result.json").toFile());
    assertEquals("completed", result.get("status").asText());
    boolean cpu = "cpu".equals(TestProject.expectedBackend());
    assertEquals(cpu, result.get("latents_zero_copy").asBoolean(),
        "latents reach Java without a copy on CPU only (one device-to-host copy elsewhere)");
    assertEquals(cpu ? "zero-copy" : "one device-to-host copy", result.get("latents_handoff").asText());
    assertEquals(10, result.get("sample_labels").size());
    JsonNode provenance = json.readTree(run.resolve("provenance.json").toFile());
    assertEquals("completed", provenance.get("status").asText());
    assertEquals(result.get("trial_id").asText(), provenance.get("trial_id").asText());
    assertEquals(TestProject.expectedBackend(), provenance.at("/python/backend").asText());
    assertFalse(provenance.get("data").isEmpty());
    assertEquals(10000, provenance.at("/data_source/examples").asLong(), "the data as opened: " + provenance);
    String config = Files.readString(run.resolve("config.yaml"));
    assertTrue(config.contains("num_res_blocks"), "model defaults filled by Python: " + config);
    assertTrue(Files.readString(run.resolve("metrics.jsonl")).contains("\"stage\":\"unet\""));
    assertTrue(first.out().contains("samples:    " + run.resolve("samples.png")), first.out());

    // Same config, fresh runs directory: the same trial id and bitwise the same outputs (CPU).
    Path otherRuns = dir.resolve("runs-again");
    assertEquals(0, execute("run", file.toString(), "--runs-dir", otherRuns.toString()).exitCode());
    JsonNode again = json.readTree(otherRuns.resolve("tiny").resolve(run.getFileName())
        .resolve("result.json").toFile());
    assertEquals(result.get("outputs"), again.get("outputs"), "samples.png and latents.arrow hashes");
    assertEquals(result.at("/metrics/unet_final_loss"), again.at("/metrics/unet_final_loss"));

    // The store sees the run straight from its files.
    Cli.Outcome listed = execute("runs", "--runs-dir", runs().toString(), "--status", "completed");
    assertEquals(0, listed.exitCode(), listed.err());
    assertTrue(listed.out().contains("tiny        " + run.getFileName() + "  completed"), listed.out());
    Path csv = dir.resolve("losses.csv");
    Cli.Outcome exported = execute("query", "SELECT stage, count(*) AS n FROM metrics GROUP BY stage ORDER BY stage",
        "--runs-dir", runs().toString(), "--csv", csv.toString());
    assertEquals(0, exported.exitCode(), exported.err());
    assertEquals("stage,n", Files.readAllLines(csv).get(0));
    servesTensorBoardEvents(runs(), run);

    Cli.Outcome shown = execute("show", run.getFileName().toString(), "--runs-dir", runs().toString());
    assertTrue(shown.out().contains("\"status\" : \"completed\""), shown.out());
    Cli.Outcome badSql = execute("query", "SELEC 1", "--runs-dir", runs().toString());
    assertEquals(2, badSql.exitCode());
    assertEquals(1, badSql.err().lines().count(), badSql.err());

    String resultBefore = Files.readString(run.resolve("result.json"));
    Cli.Outcome second = execute("run", file.toString(), "--runs-dir", runs().toString());
    assertEquals(0, second.exitCode(), second.err());
    assertTrue(second.out().contains("already completed; nothing was rerun"), second.out());
    assertEquals(resultBefore, Files.readString(run.resolve("result.json")), "completed result untouched");

    Cli.Outcome reproduced = execute("reproduce", run.getFileName().toString(), "--runs-dir", runs().toString());
    assertEquals(0, reproduced.exitCode(), reproduced.out() + reproduced.err());
    assertTrue(reproduced.out().contains("identical: trial id, config, versions, data, metrics and outputs"),
        reproduced.out());
    assertTrue(reproduced.out().contains("reproduction: " + runs().resolve(".reproductions")), reproduced.out());

    Cli.Outcome rerun = execute("run", file.toString(), "--runs-dir", runs().toString(), "--rerun");
    assertEquals(0, rerun.exitCode(), rerun.err());
    try (Stream<Path> list = Files.list(experiment)) {
      List<String> names = list.map(p -> p.getFileName().toString()).sorted().toList();
      assertEquals(2, names.size(), names.toString());
      assertTrue(names.get(1).startsWith(run.getFileName() + ".replaced-"), names.toString());
      assertEquals(resultBefore, Files.readString(experiment.resolve(names.get(1)).resolve("result.json")),
          "the earlier result is kept");
    }

    Cli.Outcome overridden = execute("run", file.toString(), "sample.steps=2", "--runs-dir", runs().toString());
    assertEquals(0, overridden.exitCode(), overridden.err());
    assertTrue(overridden.out().contains("experiment tiny, trial "), overridden.out());
    assertFalse(overridden.out().contains("trial " + run.getFileName()), "an override makes another trial");

    Cli.Outcome replicate = execute("run", file.toString(), "--replicate", "1", "--runs-dir", runs().toString());
    assertEquals(0, replicate.exitCode(), replicate.err());
    assertFalse(replicate.out().contains("trial " + run.getFileName()), "a replicate is another trial");
    JsonNode replicateResult;
    try (Stream<Path> results = Files.walk(experiment)) {
      Path file1 = results.filter(p -> p.getFileName().toString().equals("provenance.json"))
          .filter(p -> readQuietly(p).contains("\"replicate\" : 1"))
          .findFirst().orElseThrow();
      replicateResult = json.readTree(file1.resolveSibling("result.json").toFile());
    }
    assertFalse(result.get("outputs").equals(replicateResult.get("outputs")), "other randomness, other samples");
  }

  @Test
  void run_outputThatCannotBeWritten_failsAndIsNeverReadAsComplete() throws IOException {
    Path file = config(TestProject.tinyExperiment("unwritable", 2, 2, 4));
    io.latentlab.run.Trial trial = new io.latentlab.run.TrialPlanner(runs(),
        io.latentlab.bridge.PythonBridge.start(TestProject.home()))
        .plan(file, new io.latentlab.config.ConfigLoader().load(file), 0);
    // An earlier attempt left a non-empty folder where latents.arrow goes: its write must fail.
    Files.createDirectories(trial.directory().resolve("latents.arrow").resolve("blocker"));
    Cli.Outcome outcome = execute("run", file.toString(), "--runs-dir", runs().toString());
    assertEquals(1, outcome.exitCode(), outcome.err());
    assertFalse(Files.exists(trial.directory().resolve("result.json")),
        "result.json is written last, so a run whose outputs failed is not complete");
    JsonNode provenance = new ObjectMapper().readTree(trial.directory().resolve("provenance.json").toFile());
    assertEquals("failed", provenance.get("status").asText());
  }
}
