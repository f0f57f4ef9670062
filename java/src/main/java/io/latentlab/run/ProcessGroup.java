package io.latentlab.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.config.ConfigException;
import io.latentlab.config.ExecutionConfig;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorFiles;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.BufferAllocator;

/**
 * One trial trained by several JAX processes on this host ({@code execution.processes} > 1):
 * starts {@code python -m latentlab.distributed} once per process, each with its share of this
 * host's devices, forwards the first process's progress, and waits for all of them. The
 * launching JVM's own Python never joins the distributed runtime.
 *
 * <p>A process that fails fails the run: the others are stopped (SIGTERM, then SIGKILL after
 * {@link #GRACE_SECONDS}), since their next collective could only wait for the dead one, so
 * no process is left behind. The error names the process, its last line and its log
 * ({@code logs/process-<i>.log} in the run directory).
 */
final class ProcessGroup {
  /** How long the other processes get to end on SIGTERM once one has failed. */
  static final int GRACE_SECONDS = 5;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path home;
  private final RunDirectory dir;
  private final int processes;

  /** What process 0 handed back: the bridge call's JSON and the two tensors. */
  record Outputs(JsonNode output, Tensor latents, Tensor images) {}

  ProcessGroup(Path home, RunDirectory dir, int processes) {
    this.home = home;
    this.dir = dir;
    this.processes = processes;
  }

  /**
   * Trains and samples the trial over the processes.
   *
   * @param machine the launching JVM's {@code environment} (its backend and devices), to
   *     share the devices out
   * @throws IllegalArgumentException (a usage error) if the devices do not split over the
   *     processes
   * @throws ProcessFailedException if a process fails, naming it and its log
   */
  Outputs run(Trial trial, JsonNode machine, ProgressListener progress,
      BufferAllocator allocator) {
    ExecutionConfig execution = trial.config().execution();
    String backend = machine.get("backend").asText();
    int perProcess = devicesPerProcess(trial, machine);
    Path job = dir.path().resolve(".job");
    Path logs = dir.path().resolve("logs");
    List<Process> started = new java.util.concurrent.CopyOnWriteArrayList<>();
    Thread killer = new Thread(() -> started.forEach(Process::destroyForcibly),
        "latentlab-process-group");
    Runtime.getRuntime().addShutdownHook(killer);
    try {
      Files.createDirectories(job);
      Files.createDirectories(logs);
      Files.deleteIfExists(job.resolve("output.json"));
      String coordinator = execution.coordinator() != null ? execution.coordinator()
          : "127.0.0.1:" + freePort();
      for (int rank = 0; rank < processes; rank++) {
        ObjectNode spec = JSON.createObjectNode();
        spec.set("config", JSON.readTree(trial.canonicalJson()));
        spec.put("replicate", trial.id().replicate());
        spec.put("home", home.toString());
        spec.put("checkpoint_dir", dir.path().resolve(RunDirectory.CHECKPOINT).toString());
        spec.put("out_dir", job.toString());
        spec.put("coordinator", coordinator);
        spec.put("num_processes", processes);
        spec.put("process_id", rank);
        Path specFile = job.resolve("process-" + rank + ".json");
        Files.writeString(specFile, JSON.writeValueAsString(spec));
        ProcessBuilder builder = new ProcessBuilder(
            home.resolve(".venv").resolve("bin").resolve("python").toString(),
            "-m", "latentlab.distributed", specFile.toString());
        builder.directory(home.toFile());
        share(builder.environment(), home, backend, rank, perProcess);
        builder.redirectError(ProcessBuilder.Redirect.appendTo(log(logs, rank).toFile()));
        if (rank != 0) {
          builder.redirectOutput(ProcessBuilder.Redirect.appendTo(log(logs, rank).toFile()));
        }
        started.add(builder.start());
      }
      Thread reader = forwardProgress(started.get(0), progress, log(logs, 0));
      waitForAll(started, logs);
      reader.join(TimeUnit.SECONDS.toMillis(GRACE_SECONDS));
      JsonNode output = RunArtifacts.readJson(job.resolve("output.json"));
      List<Map<String, Tensor>> batches = TensorFiles.map(job.resolve("outputs.arrow"), allocator);
      return new Outputs(output, batches.get(0).get("latents"), batches.get(0).get("images"));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start the run's processes in " + job, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ProcessFailedException("interrupted while waiting for the run's processes");
    } finally {
      started.forEach(Process::destroyForcibly);
      try {
        Runtime.getRuntime().removeShutdownHook(killer);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running: it kills them
      }
    }
  }

  /**
   * How many of this host's devices each process gets.
   *
   * @param machine the launching JVM's {@code environment}
   * @throws ConfigException naming the config file, if they do not split evenly
   */
  static int devicesPerProcess(Trial trial, JsonNode machine) {
    int processes = trial.config().execution().processes();
    int devices = machine.get("devices").size();
    if (devices < processes || devices % processes != 0) {
      throw new ConfigException(String.format("%s: execution.processes: %d processes do not "
          + "share this host's %d %s device(s) evenly; use a divisor of %d (on CPU, simulate "
          + "more devices with XLA_FLAGS=--xla_force_host_platform_device_count=N)",
          trial.configFile(), processes, devices, machine.get("backend").asText(), devices));
    }
    return devices / processes;
  }

  private static Path log(Path logs, int rank) {
    return logs.resolve("process-" + rank + ".log");
  }

  /** This process's devices: CUDA devices by index, or simulated CPU devices by count. */
  private static void share(Map<String, String> env, Path home, String backend, int rank,
      int count) {
    env.put("PYTHONPATH", home.resolve("python").toString());
    if (backend.equals("gpu")) {
      List<String> ids = new ArrayList<>();
      for (int i = rank * count; i < (rank + 1) * count; i++) {
        ids.add(Integer.toString(i));
      }
      env.put("CUDA_VISIBLE_DEVICES", String.join(",", ids));
    } else if (backend.equals("cpu")) {
      String flags = env.getOrDefault("XLA_FLAGS", "")
          .replaceAll("--xla_force_host_platform_device_count=\\d+", "").strip();
      env.put("XLA_FLAGS", (flags + " --xla_force_host_platform_device_count=" + count).strip());
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  /** Process 0's stdout: one JSON progress report per line, copied into its log too. */
  private static Thread forwardProgress(Process first, ProgressListener progress, Path log) {
    Thread reader = new Thread(() -> {
      try (BufferedReader lines = new BufferedReader(new InputStreamReader(
          first.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = lines.readLine()) != null) {
          Files.writeString(log, line + System.lineSeparator(), StandardCharsets.UTF_8,
              java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
          if (!line.startsWith("{\"stage\"")) {
            continue;
          }
          JsonNode report = JSON.readTree(line);
          progress.update(report.get("stage").asText(), report.get("step").asLong(),
              report.get("total").asLong(),
              report.get("loss").isNull() ? Double.NaN : report.get("loss").asDouble());
        }
      } catch (IOException e) {
        // the process ended; waitForAll reports how
      }
    }, "latentlab-progress-of-process-0");
    reader.setDaemon(true);
    reader.start();
    return reader;
  }

  /** Waits until every process has ended; the first to fail fails the run. */
  private void waitForAll(List<Process> started, Path logs) throws InterruptedException,
      IOException {
    while (true) {
      boolean running = false;
      for (int rank = 0; rank < started.size(); rank++) {
        Process p = started.get(rank);
        if (p.isAlive()) {
          running = true;
        } else if (p.exitValue() != 0) {
          started.forEach(Process::destroy);
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(GRACE_SECONDS);
          for (Process other : started) {
            other.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            other.destroyForcibly();
          }
          throw new ProcessFailedException(String.format("process %d of %d failed (exit %d): %s; "
              + "its log: %s", rank, started.size(), p.exitValue(), lastLine(log(logs, rank)),
              log(logs, rank)));
        }
      }
      if (!running) {
        return;
      }
      Thread.sleep(100);
    }
  }

  private static String lastLine(Path log) throws IOException {
    if (!Files.isRegularFile(log)) {
      return "(no output)";
    }
    List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8).stream()
        .filter(l -> !l.isBlank() && !l.startsWith("[Gloo]")).toList();
    return lines.isEmpty() ? "(no output)" : lines.get(lines.size() - 1);
  }
}
