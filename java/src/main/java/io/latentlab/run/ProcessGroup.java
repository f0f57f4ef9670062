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
 * One trial trained by several JAX processes ({@code execution.processes} > 1): starts
 * {@code python -m latentlab.distributed} once per process, each with its share of its host's
 * devices, forwards the first process's progress, and waits for all of them. The launching
 * JVM's own Python never joins the distributed runtime.
 *
 * <p>Where: on this host, as child processes; or, inside a Slurm allocation whose task count
 * is the process count (a batch job of {@code ./latentlab run --executor slurm}, or an
 * {@code salloc}), as one {@code srun} step with a task per process, spread over the
 * allocation's nodes. Process 0 runs on this host (the allocation's first node), so the
 * coordinator is this host's name and a free port here, unless {@code execution.coordinator}
 * names one.
 *
 * <p>A process that fails fails the run: on this host the others are stopped (SIGTERM, then
 * SIGKILL after {@link #GRACE_SECONDS}), since their next collective could only wait for the
 * dead one, so no process is left behind; under srun, {@code --kill-on-bad-exit} has Slurm do
 * the same. The error names the process, its last line and its log
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
    SlurmTasks slurm = SlurmTasks.of(System.getenv(), processes);
    int perProcess = slurm == null ? devicesPerProcess(trial, machine)
        : devicesPerTask(trial, machine, slurm);
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
      if (slurm != null) {
        String coordinator = execution.coordinator() != null ? execution.coordinator()
            : InetAddress.getLocalHost().getHostName() + ":" + freePort(false);
        Path specFile = job.resolve("tasks.json");
        Files.writeString(specFile, JSON.writeValueAsString(
            spec(trial, job, coordinator, null, backend.equals("gpu") ? perProcess : null)));
        Process srun = srun(slurm, specFile, backend, perProcess, started);
        Thread reader = new Thread(() -> routeLabelled(srun, logs, progress),
            "latentlab-srun-output");
        reader.setDaemon(true);
        reader.start();
        int exit = srun.waitFor();
        reader.join(TimeUnit.SECONDS.toMillis(GRACE_SECONDS)); // its last lines
        failedTask(exit, slurm, logs);
        return outputs(job, allocator);
      }
      String coordinator = execution.coordinator() != null ? execution.coordinator()
          : "127.0.0.1:" + freePort(true);
      for (int rank = 0; rank < processes; rank++) {
        Path specFile = job.resolve("process-" + rank + ".json");
        Files.writeString(specFile, JSON.writeValueAsString(
            spec(trial, job, coordinator, rank, null)));
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
      return outputs(job, allocator);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start the run's processes in " + job, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ProcessFailedException("interrupted while waiting for the run's processes");
    } finally {
      started.forEach(Process::destroy); // srun passes SIGTERM on to its tasks
      started.forEach(p -> {
        try {
          p.waitFor(GRACE_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        p.destroyForcibly();
      });
      try {
        Runtime.getRuntime().removeShutdownHook(killer);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running: it kills them
      }
    }
  }

  private ObjectNode spec(Trial trial, Path job, String coordinator, Integer rank,
      Integer gpusPerTask) throws IOException {
    ObjectNode spec = JSON.createObjectNode();
    spec.set("config", JSON.readTree(trial.canonicalJson()));
    spec.put("replicate", trial.id().replicate());
    spec.put("home", home.toString());
    spec.put("checkpoint_dir", dir.path().resolve(RunDirectory.CHECKPOINT).toString());
    spec.put("out_dir", job.toString());
    spec.put("coordinator", coordinator);
    spec.put("num_processes", processes);
    if (rank == null) {
      spec.putNull("process_id"); // each srun task reads its own from SLURM_PROCID
    } else {
      spec.put("process_id", rank);
    }
    if (gpusPerTask != null) {
      spec.put("gpus_per_task", gpusPerTask); // task i of a node: its GPUs by SLURM_LOCALID
    }
    return spec;
  }

  private static Outputs outputs(Path job, BufferAllocator allocator) throws IOException {
    JsonNode output = RunArtifacts.readJson(job.resolve("output.json"));
    List<Map<String, Tensor>> batches = TensorFiles.map(job.resolve("outputs.arrow"), allocator);
    return new Outputs(output, batches.get(0).get("latents"), batches.get(0).get("images"));
  }

  /**
   * The Slurm allocation this JVM runs in, where its task count is the run's process count:
   * the processes are then its tasks, started with srun.
   *
   * @param tasks how many tasks the allocation has ({@code SLURM_NTASKS})
   * @param tasksPerNode how many of them each node runs (the first entry of
   *     {@code SLURM_TASKS_PER_NODE}, e.g. {@code 2(x3)})
   * @param gpusBound Slurm gives each task its own GPUs ({@code --gpus-per-task})
   */
  record SlurmTasks(int tasks, int tasksPerNode, boolean gpusBound) {
    static SlurmTasks of(Map<String, String> env, int processes) {
      String tasks = env.get("SLURM_NTASKS");
      if (env.get("SLURM_JOB_ID") == null || tasks == null || !tasks.equals(Integer.toString(processes))) {
        return null;
      }
      java.util.regex.Matcher first = java.util.regex.Pattern.compile("^(\\d+)")
          .matcher(env.getOrDefault("SLURM_TASKS_PER_NODE", tasks));
      int perNode = first.find() ? Integer.parseInt(first.group(1)) : processes;
      return new SlurmTasks(processes, perNode, env.get("SLURM_GPUS_PER_TASK") != null);
    }
  }

  /**
   * How many devices each srun task gets: its node's devices shared by the node's tasks (the
   * nodes of an allocation are alike), or what {@code --gpus-per-task} gave it.
   *
   * @throws ConfigException naming the config file, if they do not split evenly
   */
  static int devicesPerTask(Trial trial, JsonNode machine, SlurmTasks slurm) {
    int devices = machine.get("devices").size();
    if (slurm.gpusBound() && machine.get("backend").asText().equals("gpu")) {
      return devices; // this task's own, as Slurm bound them
    }
    if (devices < slurm.tasksPerNode() || devices % slurm.tasksPerNode() != 0) {
      throw new ConfigException(String.format("%s: execution.processes: the %d tasks per node "
          + "of this Slurm allocation do not share a node's %d %s device(s) evenly; ask for a "
          + "divisor of %d tasks per node", trial.configFile(), slurm.tasksPerNode(), devices,
          machine.get("backend").asText(), devices));
    }
    return devices / slurm.tasksPerNode();
  }

  /** One srun step of a task per process, its output labelled by task (see routeLabelled). */
  private Process srun(SlurmTasks slurm, Path specFile, String backend, int perProcess,
      List<Process> started) throws IOException {
    ProcessBuilder builder = new ProcessBuilder("srun", "--ntasks=" + slurm.tasks(),
        "--kill-on-bad-exit=1", "--label", "--unbuffered",
        home.resolve(".venv").resolve("bin").resolve("python").toString(),
        "-m", "latentlab.distributed", specFile.toString());
    builder.directory(home.toFile());
    builder.redirectErrorStream(true);
    builder.environment().put("PYTHONPATH", home.resolve("python").toString());
    if (backend.equals("cpu")) {
      share(builder.environment(), home, backend, 0, perProcess); // the same count for each
    }
    Process srun = builder.start();
    started.add(srun);
    return srun;
  }

  private static final java.util.regex.Pattern LABELLED =
      java.util.regex.Pattern.compile("^\\s*(\\d+): ?(.*)$");

  /** srun's output: "i: line" of task i into its log (task 0's progress forwarded), the rest
   * (srun's own words) into logs/srun.log. */
  private static void routeLabelled(Process srun, Path logs, ProgressListener progress) {
    try (BufferedReader lines = new BufferedReader(new InputStreamReader(
        srun.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = lines.readLine()) != null) {
        java.util.regex.Matcher labelled = LABELLED.matcher(line);
        if (!labelled.matches()) {
          append(logs.resolve("srun.log"), line);
          continue;
        }
        int rank = Integer.parseInt(labelled.group(1));
        String text = labelled.group(2);
        append(log(logs, rank), text);
        if (rank == 0 && text.startsWith("{\"stage\"")) {
          report(JSON.readTree(text), progress);
        }
      }
    } catch (IOException e) {
      // srun ended; failedTask reports how
    }
  }

  private static final java.util.regex.Pattern FAILED_TASK =
      java.util.regex.Pattern.compile("task (\\d+): (.+)$");

  /** An srun step that ended with {@code exit} != 0 fails the run, naming the task and log. */
  private static void failedTask(int exit, SlurmTasks slurm, Path logs) throws IOException {
    if (exit == 0) {
      return;
    }
    Path srunLog = logs.resolve("srun.log");
    List<String> said = Files.isRegularFile(srunLog)
        ? Files.readAllLines(srunLog, StandardCharsets.UTF_8) : List.of();
    for (String line : said) {
      java.util.regex.Matcher failed = FAILED_TASK.matcher(line);
      if (line.contains("error") && failed.find()) {
        int rank = Integer.parseInt(failed.group(1));
        throw new ProcessFailedException(String.format("process %d of %d (Slurm task %d) failed "
            + "(%s): %s; its log: %s", rank, slurm.tasks(), rank, failed.group(2).strip(),
            lastLine(log(logs, rank)), log(logs, rank)));
      }
    }
    throw new ProcessFailedException(String.format("srun failed (exit %d): %s; its log: %s",
        exit, lastLine(srunLog), srunLog));
  }

  private static void append(Path log, String line) throws IOException {
    Files.writeString(log, line + System.lineSeparator(), StandardCharsets.UTF_8,
        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
  }

  private static void report(JsonNode report, ProgressListener progress) {
    progress.update(report.get("stage").asText(), report.get("step").asLong(),
        report.get("total").asLong(),
        report.get("loss").isNull() ? Double.NaN : report.get("loss").asDouble());
  }

  /**
   * Checks, before anything is written, that the devices share out over the processes, here or
   * in the Slurm allocation this JVM runs in.
   *
   * @throws ConfigException naming the config file, if they do not
   */
  static void checkDevices(Trial trial, JsonNode machine) {
    checkCoordinator(trial);
    int processes = trial.config().execution().processes();
    SlurmTasks slurm = SlurmTasks.of(System.getenv(), processes);
    int perProcess = slurm == null ? devicesPerProcess(trial, machine)
        : devicesPerTask(trial, machine, slurm);
    Object devices = trial.config().execution().devices();
    int used = devices instanceof Integer n ? Math.min(n, perProcess) : perProcess;
    checkBatches(trial, used * processes);
  }

  /**
   * Each training batch must split evenly over the global mesh's data axis (Python checks it
   * too, but only once the run has started).
   *
   * @throws ConfigException naming the config file and the batch key, if one does not
   */
  static void checkBatches(Trial trial, int globalDevices) {
    int split = trial.config().execution().mesh().data() == -1 ? globalDevices
        : trial.config().execution().mesh().data();
    var train = trial.config().train();
    for (Object[] batch : new Object[][] {{"train.vae.batch_size", train.vae().batchSize()},
        {"train.unet.batch_size", train.unet().batchSize()}}) {
      int size = (Integer) batch[1];
      if (size % split != 0) {
        throw new ConfigException(String.format("%s: %s: %d does not split over the %d devices "
            + "of %d process(es); use a multiple of %d, or set execution.devices",
            trial.configFile(), batch[0], size, split,
            trial.config().execution().processes(), split));
      }
    }
  }

  /**
   * A coordinator the config names must be this host (process 0, which serves it, runs here,
   * also under srun) and its port free (JAX binds it on every interface).
   *
   * @throws ConfigException naming the config file and execution.coordinator, if not
   */
  static void checkCoordinator(Trial trial) {
    String coordinator = trial.config().execution().coordinator();
    if (coordinator == null) {
      return;
    }
    int colon = coordinator.lastIndexOf(':');
    String host = coordinator.substring(0, colon);
    int port = Integer.parseInt(coordinator.substring(colon + 1));
    String where = trial.configFile() + ": execution.coordinator: ";
    InetAddress address;
    try {
      address = InetAddress.getByName(host);
    } catch (java.net.UnknownHostException e) {
      throw new ConfigException(where + "cannot resolve '" + host + "'; name this host, or "
          + "leave the key out and the launcher picks a free local port");
    }
    boolean local;
    try {
      local = address.isLoopbackAddress() || address.isAnyLocalAddress()
          || java.net.NetworkInterface.getByInetAddress(address) != null;
    } catch (java.net.SocketException e) {
      local = false;
    }
    if (!local) {
      throw new ConfigException(where + host + " is not this host, where process 0 (which "
          + "serves the coordinator) runs; name this host, or leave the key out");
    }
    if (port < 1 || port > 65535) {
      throw new ConfigException(where + "port " + port + " is not in 1..65535");
    }
    try (ServerSocket probe = new ServerSocket(port)) {
      // free
    } catch (IOException e) {
      throw new ConfigException(where + "port " + port + " is taken on this host (" + e.getMessage()
          + "); choose a free port, or leave the key out and the launcher picks one");
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

  /** A port free now, on the loopback address or on every address (other hosts connect). */
  private static int freePort(boolean loopback) throws IOException {
    try (ServerSocket socket = loopback
        ? new ServerSocket(0, 1, InetAddress.getLoopbackAddress()) : new ServerSocket(0)) {
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
          append(log, line);
          if (line.startsWith("{\"stage\"")) {
            report(JSON.readTree(line), progress);
          }
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
    // latentlab.distributed's own one line; else a fatal error of JAX's runtime (an absl
    // "F<date> ..." line, before its stack trace); else the last line.
    for (java.util.regex.Pattern wanted : List.of(java.util.regex.Pattern.compile("^process \\d+: .*"),
        java.util.regex.Pattern.compile("^F\\d{4} .*"))) {
      List<String> found = lines.stream().filter(l -> wanted.matcher(l).matches()).toList();
      if (!found.isEmpty()) {
        String line = found.get(found.size() - 1);
        return line.length() > 400 ? line.substring(0, 400) + "..." : line;
      }
    }
    return lines.isEmpty() ? "(no output)" : lines.get(lines.size() - 1);
  }
}
