package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.testing.TestProject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code latentlab tensorboard ARGS} run as a user runs it (the packaged jar), read through
 * TensorBoard's HTTP API; {@link #close} stops the command (SIGTERM) and checks that
 * TensorBoard stopped with it.
 */
final class TensorBoardProbe implements AutoCloseable {
  private static final Pattern ADDRESS = Pattern.compile("TensorBoard: (http://127\\.0\\.0\\.1:\\d+/)");
  private final Process command;
  private final List<ProcessHandle> started;
  final URI base;
  final String firstLine;

  TensorBoardProbe(java.util.Map<String, String> environment, String... args) throws IOException {
    List<String> line = TestProject.cli("tensorboard");
    line.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(line).redirectErrorStream(true);
    builder.environment().putAll(environment);
    command = builder.start();
    firstLine = new BufferedReader(new InputStreamReader(command.getInputStream(),
        StandardCharsets.UTF_8)).readLine();
    Matcher address = ADDRESS.matcher(String.valueOf(firstLine));
    assertTrue(address.find(), "prints its address: " + firstLine);
    base = URI.create(address.group(1));
    started = command.descendants().toList();
  }

  /** GET a path of TensorBoard's API; asserts 200. */
  String get(String path) throws IOException {
    return send(HttpRequest.newBuilder(base.resolve(path)));
  }

  /** POST JSON to a path of TensorBoard's API (the HParams plugin's); asserts 200. */
  String post(String path, String json) throws IOException {
    return send(HttpRequest.newBuilder(base.resolve(path)).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(json)));
  }

  private static String send(HttpRequest.Builder request) throws IOException {
    try {
      HttpResponse<String> answer = HttpClient.newHttpClient().send(
          request.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, answer.statusCode(), answer.uri() + ": " + answer.body());
      return answer.body();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
  }

  @Override
  public void close() throws InterruptedException {
    command.destroy(); // SIGTERM: its shutdown hook stops TensorBoard
    assertTrue(command.waitFor(30, TimeUnit.SECONDS), "the command ends on SIGTERM");
    Thread.sleep(1000);
    assertFalse(started.isEmpty(), "TensorBoard ran as the command's child");
    for (ProcessHandle child : started) { // (an exited child not yet reaped has no command line)
      assertFalse(child.isAlive() && child.info().commandLine().isPresent(),
          "TensorBoard was left running: " + child.info().commandLine());
    }
  }
}
