package io.latentlab.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * TensorBoard (the project's {@code .venv/bin/tensorboard}) serving the event files runs write
 * ({@code <run>/tensorboard/}, see {@code latentlab.tracking}), on a free local port:
 * {@code ./latentlab tensorboard} and {@code lab.tensorboard()}. Over a runs folder, TensorBoard
 * finds every run's events below it and names each by its path
 * ({@code <experiment>/<trial>/tensorboard}); over named folders (a sweep's trials), by those
 * names. Listens on 127.0.0.1 only. {@link #close} stops it.
 */
public final class TensorBoardServer implements AutoCloseable {
  /** How long TensorBoard may take to answer after it starts (it loads its plugins). */
  static final Duration START_TIMEOUT = Duration.ofSeconds(90);

  private final Process process;
  private final URI address;
  private final Thread stopper;

  private TensorBoardServer(Process process, URI address) {
    this.process = process;
    this.address = address;
    this.stopper = new Thread(process::destroy, "latentlab-tensorboard-stop");
    Runtime.getRuntime().addShutdownHook(stopper);
  }

  /**
   * Starts TensorBoard over a runs folder and waits until it answers.
   *
   * @param home the project (its {@code .venv})
   * @param logdir the folder to serve (a runs folder, or one run's)
   * @param log where TensorBoard's own output goes
   * @throws UsageException the folder does not exist
   * @throws IllegalStateException TensorBoard did not start (the end of its log says why)
   */
  public static TensorBoardServer start(Path home, Path logdir, Path log) {
    if (!Files.isDirectory(logdir)) {
      throw new UsageException("tensorboard: " + logdir + " is not a folder of runs; give a "
          + "runs folder (default: runs/) or --sweep NAME");
    }
    return start(home, List.of("--logdir", logdir.toAbsolutePath().toString()), log);
  }

  /**
   * Starts TensorBoard over named event folders (a sweep's trials) and waits until it answers.
   *
   * @param folders name → event folder; names must not hold ':' or ','
   */
  public static TensorBoardServer start(Path home, Map<String, Path> folders, Path log) {
    if (folders.isEmpty()) {
      throw new UsageException("tensorboard: none of the runs has TensorBoard events yet");
    }
    String spec = folders.entrySet().stream()
        .map(e -> e.getKey() + ":" + e.getValue().toAbsolutePath())
        .collect(Collectors.joining(","));
    return start(home, List.of("--logdir_spec", spec), log);
  }

  private static TensorBoardServer start(Path home, List<String> logdir, Path log) {
    Path executable = home.resolve(".venv").resolve("bin").resolve("tensorboard");
    if (!Files.isExecutable(executable)) {
      throw new IllegalStateException("no " + executable + ": run ./latentlab setup");
    }
    int port;
    try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = probe.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot find a free port", e);
    }
    List<String> command = new ArrayList<>(List.of(executable.toString()));
    command.addAll(logdir);
    command.addAll(List.of("--host", "127.0.0.1", "--port", Integer.toString(port),
        "--reload_interval", "5"));
    Process process;
    try {
      Files.createDirectories(log.toAbsolutePath().getParent());
      process = new ProcessBuilder(command).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + executable, e);
    }
    TensorBoardServer server = new TensorBoardServer(process,
        URI.create("http://127.0.0.1:" + port + "/"));
    server.awaitAnswer(log);
    return server;
  }

  private void awaitAnswer(Path log) {
    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        close();
        throw new IllegalStateException("TensorBoard exited (" + process.exitValue() + "): "
            + lastLine(log) + "; its log: " + log);
      }
      try {
        try {
          HttpResponse<Void> answer = client.send(HttpRequest.newBuilder(
              address.resolve("data/runs")).timeout(Duration.ofSeconds(5)).build(),
              HttpResponse.BodyHandlers.discarding());
          if (answer.statusCode() == 200) {
            return;
          }
        } catch (IOException notYet) {
          // not listening yet
        }
        Thread.sleep(250);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        close();
        throw new IllegalStateException("interrupted while TensorBoard started");
      }
    }
    close();
    throw new IllegalStateException("TensorBoard did not answer within "
        + START_TIMEOUT.toSeconds() + " s; its log: " + log);
  }

  private static String lastLine(Path log) {
    try {
      List<String> lines = Files.readAllLines(log).stream().filter(l -> !l.isBlank()).toList();
      return lines.isEmpty() ? "(no output)" : lines.get(lines.size() - 1);
    } catch (IOException e) {
      return "(no log)";
    }
  }

  /** Where it serves, e.g. {@code http://127.0.0.1:43121/}. */
  public URI address() {
    return address;
  }

  /** Whether it still runs. */
  public boolean isAlive() {
    return process.isAlive();
  }

  /** Waits until it exits (a command line's foreground). */
  public int waitFor() throws InterruptedException {
    return process.waitFor();
  }

  /** Stops it (SIGTERM, then SIGKILL after 5 s); a second call does nothing. */
  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
    }
    try {
      Runtime.getRuntime().removeShutdownHook(stopper);
    } catch (IllegalStateException shuttingDown) {
      // the hook is running
    }
  }

  @Override
  public String toString() {
    return "TensorBoard at " + address + (process.isAlive() ? "" : " (stopped)");
  }
}
