package io.latentlab.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * A real one-node Slurm cluster in a temporary folder, for tests of the Slurm executor: its own
 * munge daemon (key, socket, pid and log in the folder), a {@code slurm.conf} with one node
 * ({@code localnode}, this machine's CPUs and most of its memory) in one default partition
 * {@code debug}, and {@code slurmctld} and {@code slurmd} running in the foreground as children
 * of this JVM. Clients find it through {@link #environment()} ({@code SLURM_CONF}); munge's socket
 * is named in the configuration ({@code AuthInfo}).
 *
 * <p>Where Slurm is not installed, {@link #start()} skips the calling test (a JUnit assumption),
 * unless {@code LATENTLAB_REQUIRE_SLURM} is set (CI sets it), in which case it fails; either
 * way with one line naming the packages to install.
 *
 * <p>The daemons run as the current user (root or not: a job of that same user needs no
 * privilege to start). Start-up takes about a second; {@link #close()} stops the daemons and deletes the
 * folder, and a JVM shutdown hook does the same if a test forgets. Not thread-safe.
 */
public final class LocalSlurm implements AutoCloseable {
  /** How to install what the fixture needs, in one line. */
  public static final String INSTALL =
      "Slurm is not installed (no sbatch on PATH): apt-get install slurm-wlm munge";
  /** The environment variable that turns a missing Slurm from a skip into a failure. */
  public static final String REQUIRE = "LATENTLAB_REQUIRE_SLURM";
  /** The partition every job lands in by default. */
  public static final String PARTITION = "debug";
  /** The node's name. */
  public static final String NODE = "localnode";

  private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);
  /** Where Debian puts the daemons; often missing from a non-login PATH. */
  private static final List<String> SBIN = List.of("/usr/sbin", "/usr/local/sbin", "/sbin");

  private final Path folder;
  private final Path conf;
  private final List<Process> daemons = new ArrayList<>();
  private Process controller;
  private final Thread shutdownHook;
  private boolean closed;

  private LocalSlurm(Path folder) {
    this.folder = folder;
    this.conf = folder.resolve("slurm.conf");
    this.shutdownHook = new Thread(this::stop, "LocalSlurm shutdown");
  }

  /**
   * Starts a cluster and waits until its node is idle.
   *
   * @return the running cluster; close it
   * @throws org.opentest4j.TestAbortedException Slurm is missing and not required
   * @throws IllegalStateException Slurm is missing and required, or a daemon did not start
   *     (the message holds the end of its log)
   */
  public static LocalSlurm start() {
    LocalSlurm slurm = startIfInstalled();
    if (slurm == null) {
      Assumptions.abort(INSTALL);
    }
    return slurm;
  }

  /**
   * For a test class's {@code @BeforeAll}: {@link #start()}, or null where Slurm is missing and
   * not required. Each test then calls {@link #assumeRunning} in {@code @BeforeEach}, so every
   * test is reported skipped by name (an abort in {@code @BeforeAll} reports the class as
   * running no test, which reads as nothing to skip).
   *
   * @throws IllegalStateException Slurm is missing and required, or a daemon did not start
   */
  public static LocalSlurm startIfInstalled() {
    if (executable("sbatch") == null) {
      String required = System.getenv(REQUIRE);
      if (required == null || required.isEmpty()) {
        return null;
      }
      throw new IllegalStateException(INSTALL);
    }
    Path folder;
    try {
      folder = Files.createTempDirectory("latentlab-slurm-");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a folder for the test cluster", e);
    }
    LocalSlurm slurm = new LocalSlurm(folder);
    Runtime.getRuntime().addShutdownHook(slurm.shutdownHook);
    try {
      slurm.startDaemons();
      return slurm;
    } catch (RuntimeException e) {
      slurm.close();
      throw e;
    }
  }

  /** Skips the calling test, with {@link #INSTALL} as the reason, unless {@code slurm} runs. */
  public static void assumeRunning(LocalSlurm slurm) {
    Assumptions.assumeTrue(slurm != null, INSTALL);
  }

  /** The cluster's folder (configuration, state, spool, logs). */
  public Path folder() {
    return folder;
  }

  /** The cluster's {@code slurm.conf}. */
  public Path conf() {
    return conf;
  }

  /** What a client process needs in its environment to reach this cluster. */
  public Map<String, String> environment() {
    return Map.of("SLURM_CONF", conf.toString());
  }

  /** The last lines of the daemons' logs, for a failing test's message. */
  public String logTails() {
    StringBuilder tails = new StringBuilder();
    for (String log : List.of("munged.log", "slurmctld.log", "slurmd.log", "slurmctld.out",
        "slurmd.out", "munged.out")) {
      tails.append(tail(folder.resolve("log").resolve(log), 15));
    }
    return tails.toString();
  }

  /**
   * Runs one of Slurm's client commands against this cluster ({@code squeue}, {@code scontrol},
   * ...) and returns what it printed.
   *
   * @throws IllegalStateException it exited with another status than 0 (its output says why)
   */
  public String command(String... arguments) {
    List<String> command = new ArrayList<>(List.of(arguments));
    String executable = executable(command.get(0));
    if (executable == null) {
      throw new IllegalStateException(command.get(0) + " is not installed");
    }
    command.set(0, executable);
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put("SLURM_CONF", conf.toString());
    try {
      Process process = builder.start();
      process.getOutputStream().close();
      String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
        throw new IllegalStateException(String.join(" ", arguments) + " failed: " + out);
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run " + executable, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running " + arguments[0]);
    }
  }

  /**
   * Freezes the controller (SIGSTOP) as an overloaded or hung slurmctld would be: clients
   * connect but get no answer until {@link #resumeController()}, and sbatch waits (up to the
   * cluster's MessageTimeout, 10 s) with its request sent.
   */
  public void pauseController() {
    signalController("STOP");
  }

  /** Lets a frozen controller go on (SIGCONT): it answers what was sent meanwhile. */
  public void resumeController() {
    signalController("CONT");
  }

  private void signalController(String signal) {
    try {
      Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(controller.pid()))
          .redirectErrorStream(true).start();
      if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
        throw new IllegalStateException("kill -" + signal + " slurmctld failed");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot signal slurmctld", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while signalling slurmctld");
    }
  }

  /** Stops the daemons and deletes the folder; a second call does nothing. */
  @Override
  public void close() {
    stop();
    try {
      Runtime.getRuntime().removeShutdownHook(shutdownHook);
    } catch (IllegalStateException shuttingDown) {
      // the hook is running or has run: nothing left to remove
    }
  }

  private synchronized void stop() {
    if (closed) {
      return;
    }
    closed = true;
    if (controller != null && controller.isAlive()) {
      try {
        resumeController(); // a test that froze it and failed before letting it go
      } catch (RuntimeException e) {
        // it is stopped below either way
      }
    }
    if (!daemons.isEmpty()) {
      cancelJobs();
    }
    // slurmd first, so that it does not report to a controller that is gone; munged last.
    for (int i = daemons.size() - 1; i >= 0; i--) {
      terminate(daemons.get(i));
    }
    deleteRecursively(folder);
  }

  private void startDaemons() {
    Path munge = folder.resolve("munge");
    Path log = folder.resolve("log");
    try {
      // munged refuses a key readable by others and a socket folder others cannot enter.
      Files.setPosixFilePermissions(folder, PosixFilePermissions.fromString("rwxr-xr-x"));
      Files.createDirectories(log);
      Files.createDirectories(folder.resolve("state"));
      Files.createDirectories(folder.resolve("spool"));
      Files.createDirectories(munge);
      Files.setPosixFilePermissions(munge, PosixFilePermissions.fromString("rwxr-xr-x"));
      Path key = folder.resolve("munge.key");
      byte[] secret = new byte[1024];
      new SecureRandom().nextBytes(secret);
      Files.write(key, secret);
      Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("r--------"));
      Files.writeString(conf, configuration(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot prepare the test cluster in " + folder, e);
    }
    Path socket = munge.resolve("munge.socket");
    daemon("munged", List.of("--foreground", "--force",
        "--socket=" + socket, "--key-file=" + folder.resolve("munge.key"),
        "--pid-file=" + munge.resolve("munged.pid"), "--log-file=" + log.resolve("munged.log"),
        "--seed-file=" + munge.resolve("munged.seed")));
    waitFor("munged to create its socket", () -> Files.exists(socket));
    // -i: ignore any saved state; -D: stay in the foreground, a child of this JVM.
    controller = daemon("slurmctld", List.of("-D", "-i", "-f", conf.toString()));
    daemon("slurmd", List.of("-D", "-N", NODE, "-f", conf.toString()));
    waitFor("the node to be idle", () -> "idle".equals(nodeState()));
  }

  private String configuration() throws IOException {
    long memoryMegabytes = totalMemoryMegabytes() * 9 / 10;
    int cpus = Runtime.getRuntime().availableProcessors();
    // Free ports, so that two clusters (two test JVMs) can run side by side.
    int controllerPort = freePort();
    int nodePort = freePort();
    return """
        # A one-node test cluster written by io.latentlab.testing.LocalSlurm.
        ClusterName=latentlab-test
        SlurmctldHost=localhost
        SlurmctldPort=%1$d
        SlurmdPort=%2$d
        SlurmUser=%3$s
        SlurmdUser=%3$s
        AuthType=auth/munge
        CredType=cred/munge
        AuthInfo=socket=%4$s/munge/munge.socket
        StateSaveLocation=%4$s/state
        SlurmdSpoolDir=%4$s/spool
        SlurmctldPidFile=%4$s/slurmctld.pid
        SlurmdPidFile=%4$s/slurmd.pid
        SlurmctldLogFile=%4$s/log/slurmctld.log
        SlurmdLogFile=%4$s/log/slurmd.log
        ProctrackType=proctrack/linuxproc
        TaskPlugin=task/none
        JobAcctGatherType=jobacct_gather/none
        AccountingStorageType=accounting_storage/none
        JobCompType=jobcomp/none
        MpiDefault=none
        ReturnToService=2
        # Cores only: with memory as a consumable resource and no default per job, each job
        # takes the whole node's memory and an array's tasks run one at a time.
        SelectType=select/cons_tres
        SelectTypeParameters=CR_Core
        # Schedule on every event, without the default batching delays (about 3 s per step).
        SchedulerType=sched/builtin
        SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
        # Use the node's configured size even where the container shows the daemon another.
        SlurmdParameters=config_overrides
        NodeName=%5$s NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=%6$d RealMemory=%7$d State=UNKNOWN
        PartitionName=%8$s Nodes=%5$s Default=YES MaxTime=INFINITE State=UP
        """.formatted(controllerPort, nodePort, System.getProperty("user.name"), folder, NODE,
        cpus, memoryMegabytes, PARTITION);
  }

  private Process daemon(String name, List<String> arguments) {
    String executable = executable(name);
    if (executable == null) {
      throw new IllegalStateException(name + " is not installed: apt-get install slurm-wlm munge");
    }
    List<String> command = new ArrayList<>();
    command.add(executable);
    command.addAll(arguments);
    ProcessBuilder builder = new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(folder.resolve("log").resolve(name + ".out").toFile());
    builder.environment().put("SLURM_CONF", conf.toString());
    try {
      Process daemon = builder.start();
      daemons.add(daemon);
      return daemon;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + name, e);
    }
  }

  /** Cancels this cluster's jobs: slurmstepd detaches from slurmd, so killing it leaves them. */
  private void cancelJobs() {
    String scancel = executable("scancel");
    if (scancel == null) {
      return;
    }
    try {
      ProcessBuilder builder = new ProcessBuilder(scancel, "--quiet", "--full",
          "--user=" + System.getProperty("user.name")).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD);
      builder.environment().put("SLURM_CONF", conf.toString());
      builder.start().waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (IOException e) {
      // the controller is gone: nothing to cancel through it
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private String nodeState() {
    try {
      ProcessBuilder builder = new ProcessBuilder(executable("sinfo"), "-h", "-n", NODE,
          "-o", "%t").redirectErrorStream(true);
      builder.environment().put("SLURM_CONF", conf.toString());
      Process sinfo = builder.start();
      sinfo.getOutputStream().close();
      String out = new String(sinfo.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      return sinfo.waitFor() == 0 ? out.strip() : null;
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  private interface Condition {
    boolean holds() throws IOException;
  }

  private void waitFor(String what, Condition condition) {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (true) {
      for (Process daemon : daemons) {
        if (!daemon.isAlive()) {
          throw new IllegalStateException("the test cluster's " + daemon.info().command()
              .map(c -> Path.of(c).getFileName().toString()).orElse("daemon")
              + " exited with " + daemon.exitValue() + " while waiting for " + what + ":\n"
              + logTails());
        }
      }
      try {
        if (condition.holds()) {
          return;
        }
      } catch (IOException e) {
        // not yet
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the test cluster was not ready after "
            + START_TIMEOUT.toSeconds() + " s waiting for " + what + ":\n" + logTails());
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for " + what);
      }
    }
  }

  /** The executable on PATH or in the usual sbin folders, or null. */
  static String executable(String name) {
    List<String> folders = new ArrayList<>();
    String path = System.getenv("PATH");
    if (path != null) {
      folders.addAll(List.of(path.split(":")));
    }
    folders.addAll(SBIN);
    for (String dir : folders) {
      if (dir.isEmpty()) {
        continue;
      }
      Path candidate = Path.of(dir, name);
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
        return candidate.toString();
      }
    }
    return null;
  }

  private static void terminate(Process daemon) {
    // Jobs the daemons started (slurmstepd and the tasks) are their descendants; stop them too.
    List<ProcessHandle> descendants = daemon.descendants().toList();
    daemon.destroy();
    descendants.forEach(ProcessHandle::destroy);
    try {
      if (!daemon.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        daemon.destroyForcibly().waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      daemon.destroyForcibly();
    }
    descendants.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
  }

  private static long totalMemoryMegabytes() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
      if (line.startsWith("MemTotal:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
      }
    }
    return 1024;
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  private static String tail(Path file, int lines) {
    if (!Files.isRegularFile(file)) {
      return "";
    }
    try {
      List<String> all = Files.readAllLines(file, StandardCharsets.UTF_8);
      return "--- " + file.getFileName() + "\n"
          + String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size())) + "\n";
    } catch (IOException | UncheckedIOException e) {
      return "--- " + file.getFileName() + ": unreadable (" + e.getMessage() + ")\n";
    }
  }

  private static void deleteRecursively(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(root)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          // a socket or spool file a daemon still held; the temp folder's owner cleans up
        }
      });
    } catch (IOException | UncheckedIOException e) {
      // as above
    }
  }
}
