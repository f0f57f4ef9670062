package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.testing.TestProject;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training sweep tracked in a real MLflow server ({@code mlflow server}, SQLite backend,
 * local artifacts, a free port), read back through the server's REST API: the sweep's run is
 * the parent of its trials' runs, each with the resolved config as parameters, per-step
 * losses, final metrics, artifacts and tags; a cached trial is not logged twice; the store
 * shows the MLflow run ids; {@code track sync} finds nothing left to send. The module's
 * behaviour with a server that stops mid-run is python/tests/test_mlflow_log.py's.
 */
class MlflowTrackingTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(5)).build();

  @TempDir
  static Path dir;
  static Process server;
  static String address;

  @BeforeAll
  static void startServer() throws Exception {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    address = "http://127.0.0.1:" + port;
    Path python = TestProject.home().resolve(".venv").resolve("bin").resolve("python");
    server = new ProcessBuilder(python.toString(), "-m", "mlflow", "server", "--host",
        "127.0.0.1", "--port", String.valueOf(port), "--workers", "1",
        "--backend-store-uri", "sqlite:///" + dir.resolve("mlflow.db"),
        "--artifacts-destination", dir.resolve("artifacts").toString())
        .redirectErrorStream(true).redirectOutput(dir.resolve("server.log").toFile()).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (true) {
      assertTrue(server.isAlive(), () -> read(dir.resolve("server.log")));
      try {
        if (HTTP.send(HttpRequest.newBuilder(URI.create(address + "/health")).build(),
            HttpResponse.BodyHandlers.ofString()).statusCode() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // starting
      }
      assertTrue(System.nanoTime() < deadline, "mlflow server did not answer in 120 s");
      Thread.sleep(300);
    }
  }

  @AfterAll
  static void stopServer() throws InterruptedException {
    if (server != null) {
      server.descendants().forEach(ProcessHandle::destroy);
      server.destroy();
      server.waitFor(30, TimeUnit.SECONDS);
    }
  }

  private static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (IOException e) {
      return e.toString();
    }
  }

  private static JsonNode get(String path, Map<String, String> query) throws Exception {
    StringBuilder url = new StringBuilder(address + "/api/2.0/mlflow/" + path + "?");
    query.forEach((k, v) -> url.append(k).append('=')
        .append(URLEncoder.encode(v, StandardCharsets.UTF_8)).append('&'));
    HttpResponse<String> answer = HTTP.send(HttpRequest.newBuilder(URI.create(url.toString()))
        .build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, answer.statusCode(), answer.body());
    return JSON.readTree(answer.body());
  }

  private static List<JsonNode> runsOf(String experiment) throws Exception {
    String id = get("experiments/get-by-name", Map.of("experiment_name", experiment))
        .at("/experiment/experiment_id").asText();
    HttpResponse<String> answer = HTTP.send(HttpRequest.newBuilder(
        URI.create(address + "/api/2.0/mlflow/runs/search"))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"experiment_ids\": [\"" + id + "\"]}"))
        .build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, answer.statusCode(), answer.body());
    List<JsonNode> runs = new ArrayList<>();
    JSON.readTree(answer.body()).path("runs").forEach(runs::add);
    return runs;
  }

  private static Map<String, String> pairs(JsonNode run, String field) {
    Map<String, String> values = new HashMap<>();
    run.at("/data/" + field).forEach(p -> values.put(p.get("key").asText(), p.get("value").asText()));
    return values;
  }

  @Test
  void sweep_trackedInMlflow_parentAndChildrenWithParamsMetricsArtifacts_cachedNotLoggedTwice()
      throws Exception {
    Path runs = dir.resolve("runs");
    Files.writeString(dir.resolve("tracked.yaml"), TestProject.tinyExperiment("mlflow-tiny", 1, 2, 4)
        + "tracking: {mlflow: '" + address + "'}\n");
    Path sweep = dir.resolve("tracked-sweep.yaml");
    Files.writeString(sweep, "sweep: tracked\nbase: tracked.yaml\ngrid:\n  seed: [7, 8]\n");
    Cli.Outcome first = Cli.execute("sweep", sweep.toString(), "--runs-dir", runs.toString());
    assertEquals(0, first.exitCode(), first.out() + first.err());
    assertFalse(first.err().contains("MLflow at"), "no warning with the server up: " + first.err());

    List<JsonNode> logged = runsOf("mlflow-tiny");
    assertEquals(3, logged.size(), logged.toString());
    JsonNode parent = logged.stream().filter(r -> "sweep".equals(pairs(r, "tags")
        .get("latentlab.role"))).findFirst().orElseThrow();
    String parentId = parent.at("/info/run_id").asText();
    assertEquals("FINISHED", parent.at("/info/status").asText());
    Map<String, String> seeds = new HashMap<>();
    for (JsonNode child : logged) {
      if (child == parent) {
        continue;
      }
      String runId = child.at("/info/run_id").asText();
      Map<String, String> tags = pairs(child, "tags");
      Map<String, String> params = pairs(child, "params");
      assertEquals(parentId, tags.get("mlflow.parentRunId"), tags.toString());
      assertEquals("tracked", tags.get("latentlab.sweep"));
      assertEquals(child.at("/info/run_name").asText(), tags.get("latentlab.trial"));
      assertTrue(tags.containsKey("mlflow.source.git.commit"), tags.toString());
      assertEquals("FINISHED", child.at("/info/status").asText());
      assertEquals("4", params.get("train.unet.steps"), params.toString());
      assertEquals(address, params.get("tracking.mlflow"));
      seeds.put(params.get("seed"), runId);
      Map<String, String> metrics = pairs(child, "metrics");
      assertTrue(metrics.containsKey("unet_final_loss"), metrics.toString());
      assertTrue(metrics.containsKey("vae_heldout_psnr_db"), metrics.toString());
      JsonNode history = get("metrics/get-history", Map.of("run_id", runId, "metric_key", "unet/loss"));
      assertTrue(history.path("metrics").size() >= 1, history.toString());
      assertEquals(4, history.at("/metrics").get(history.at("/metrics").size() - 1)
          .get("step").asInt(), "the last step's loss: " + history);
      List<String> artifacts = new ArrayList<>();
      get("artifacts/list", Map.of("run_id", runId)).path("files")
          .forEach(f -> artifacts.add(f.get("path").asText()));
      assertTrue(artifacts.containsAll(List.of("samples.png", "result.json", "config.yaml",
          "provenance.json")), artifacts.toString());
      // The run directory records its MLflow run; the trial id stays the run's identity.
      Path runDir = runs.resolve("mlflow-tiny").resolve(child.at("/info/run_name").asText());
      assertEquals(runId, JSON.readTree(runDir.resolve("mlflow.json").toFile()).get("run_id").asText());
    }
    assertEquals(Map.of("7", seeds.get("7"), "8", seeds.get("8")), seeds);

    // The store shows each run's MLflow run id.
    Cli.Outcome query = Cli.execute("query", "select mlflow_run_id from runs order by mlflow_run_id",
        "--runs-dir", runs.toString());
    assertEquals(0, query.exitCode(), query.err());
    assertTrue(query.out().contains(seeds.get("7")) && query.out().contains(seeds.get("8")),
        query.out());

    // Again: both trials are cached; nothing new is logged.
    Cli.Outcome again = Cli.execute("sweep", sweep.toString(), "--runs-dir", runs.toString());
    assertEquals(0, again.exitCode(), again.err());
    Cli.Outcome alone = Cli.execute("run", dir.resolve("tracked.yaml").toString(), "seed=7",
        "--runs-dir", runs.toString());
    assertTrue(alone.out().contains("already completed"), alone.out());
    assertEquals(3, runsOf("mlflow-tiny").size());

    // track sync: the server has everything; nothing is sent twice.
    Cli.Outcome sync = Cli.execute("track", "sync", "--sweep", "tracked", "--runs-dir", runs.toString());
    assertEquals(0, sync.exitCode(), sync.out() + sync.err());
    assertEquals(2, sync.out().lines().filter(l -> l.contains(" 0 metric value(s) sent")).count(),
        sync.out());
    assertEquals(3, runsOf("mlflow-tiny").size());
  }

  @Test
  void config_addressWithCredentials_refusedExit2NothingWritten() throws Exception {
    Path runs = dir.resolve("refused-runs");
    Path file = dir.resolve("secret.yaml");
    Files.writeString(file, TestProject.tinyExperiment("mlflow-secret", 1, 2, 4)
        + "tracking: {mlflow: 'http://ann:s3cret@127.0.0.1:1'}\n");
    Cli.Outcome outcome = Cli.execute("run", file.toString(), "--runs-dir", runs.toString());
    assertEquals(2, outcome.exitCode(), outcome.err());
    assertEquals(1, outcome.err().lines().count(), outcome.err());
    assertTrue(outcome.err().contains("tracking.mlflow") && outcome.err().contains("MLFLOW_TRACKING_USERNAME"),
        outcome.err());
    assertFalse(Files.exists(runs), "nothing written");
  }

  @Test
  void trackSync_noServerNamedAnywhere_exit2() throws Exception {
    Cli.Outcome outcome = Cli.execute("track", "sync", "--sweep", "no-such-sweep", "--runs-dir",
        dir.resolve("empty").toString());
    assertEquals(2, outcome.exitCode(), outcome.err());
    try (Stream<String> lines = outcome.err().lines()) {
      assertEquals(1, lines.count(), outcome.err());
    }
  }
}
