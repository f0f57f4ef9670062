package io.latentlab.slurm;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Slurm's client commands ({@code sbatch}, {@code squeue}, {@code scontrol}) run as child
 * processes with the JVM's environment plus the caller's additions (a test cluster's
 * {@code SLURM_CONF}, say). Stateless apart from that environment; thread-safe. Sweeps submit
 * job arrays through it ({@code io.latentlab.sweep.slurm}), single runs one job each
 * ({@code io.latentlab.run.SlurmRun}).
 */
public final class SlurmCommands {
  /** The one line a user without Slurm sees. */
  public static final String INSTALL = "Slurm is not installed here (no sbatch on PATH): "
      + "apt-get install slurm-wlm munge, or use another executor";

  /** How long a waiting caller tolerates squeue failing before it gives up on a job. */
  public static final java.time.Duration QUEUE_FAILURE_LIMIT = java.time.Duration.ofMinutes(2);
  private static final long COMMAND_TIMEOUT_SECONDS = 60;
  private static final Pattern FIELD = Pattern.compile("(?:^|\\s)(\\w+)=(\\S*)");

  private final Map<String, String> environment;

  /** @param environment added to the JVM's environment for every command */
  public SlurmCommands(Map<String, String> environment) {
    Map<String, String> merged = new HashMap<>(System.getenv());
    merged.putAll(environment);
    this.environment = Map.copyOf(merged);
  }

  /** A command's outcome. */
  public record Result(int exitCode, String out, String err) {
    /** stderr, or stdout where stderr is empty, on one line. */
    public String message() {
      String text = err.isBlank() ? out : err;
      return text.strip().replaceAll("\\s*\\n\\s*", "; ");
    }
  }

  /** What Slurm says about one finished job or array task ({@code scontrol show job}). */
  public record TaskEnd(String state, String exitCode) {
    /** The task's process exit status (the part before ':'), or -1 where unknown. */
    public int status() {
      try {
        return Integer.parseInt(exitCode.substring(0, exitCode.indexOf(':')));
      } catch (RuntimeException e) {
        return -1;
      }
    }
  }

  /**
   * Fails with one line where Slurm's client is missing.
   *
   * @throws IllegalStateException no {@code sbatch} on the PATH
   */
  public void requireInstalled() {
    if (executable("sbatch") == null) {
      throw new IllegalStateException(INSTALL);
    }
  }

  /**
   * Submits a batch script.
   *
   * @param options sbatch's options (before the script)
   * @param script the script
   * @return the job id
   * @throws SlurmException sbatch refused, with its message
   */
  public String submit(List<String> options, Path script) {
    List<String> command = new ArrayList<>(List.of("sbatch", "--parsable"));
    command.addAll(options);
    command.add(script.toString());
    Result result = run(command);
    String jobId = result.out().strip();
    int cluster = jobId.indexOf(';'); // --parsable prints "id;cluster" on multi-cluster setups
    if (cluster >= 0) {
      jobId = jobId.substring(0, cluster);
    }
    if (result.exitCode() != 0 || !jobId.matches("\\d+")) {
      throw new SlurmException("sbatch refused the job (exit " + result.exitCode() + "): "
          + result.message());
    }
    return jobId;
  }

  /**
   * The live (pending, running, completing, ...) tasks of a job array.
   *
   * @return array index → Slurm state, e.g. {@code PENDING}, {@code RUNNING}; tasks that have
   *     ended are absent
   * @throws SlurmException squeue failed for another reason than the job being gone
   */
  public Map<Integer, String> queue(String jobId) {
    Result result = run(List.of("squeue", "--noheader", "--array", "--jobs=" + jobId,
        "--format=%K %T"));
    Map<Integer, String> tasks = new HashMap<>();
    if (result.exitCode() != 0) {
      if (result.message().contains("Invalid job id")) {
        return tasks; // purged from the controller: every task has ended
      }
      throw new SlurmException("squeue failed (exit " + result.exitCode() + "): "
          + result.message());
    }
    for (String line : result.out().lines().toList()) {
      String[] fields = line.strip().split("\\s+");
      if (fields.length == 2 && fields[0].matches("\\d+")) {
        tasks.put(Integer.parseInt(fields[0]), fields[1]);
      }
    }
    return tasks;
  }

  /**
   * The job of that name Slurm holds (pending or running), if any.
   *
   * @return its array job id
   * @throws SlurmException squeue failed
   */
  public java.util.Optional<String> findByName(String name) {
    Result result = run(List.of("squeue", "--noheader", "--name=" + name, "--format=%F"));
    if (result.exitCode() != 0) {
      throw new SlurmException("squeue failed (exit " + result.exitCode() + "): "
          + result.message());
    }
    return result.out().lines().map(String::strip).filter(l -> l.matches("\\d+")).findFirst();
  }

  /**
   * The array tasks the controller still remembers, ended or not ({@code scontrol show job};
   * ended jobs stay there for the cluster's {@code MinJobAge}, 300 s by default).
   *
   * @return array index → its state and exit code; empty where the job is unknown
   */
  public Map<Integer, TaskEnd> tasks(String jobId) {
    Result result = run(List.of("scontrol", "--oneliner", "show", "job", jobId));
    Map<Integer, TaskEnd> tasks = new HashMap<>();
    if (result.exitCode() != 0) {
      return tasks;
    }
    for (String line : result.out().lines().toList()) {
      Map<String, String> fields = new HashMap<>();
      Matcher field = FIELD.matcher(line);
      while (field.find()) {
        fields.putIfAbsent(field.group(1), field.group(2));
      }
      String task = fields.get("ArrayTaskId");
      if (task != null && task.matches("\\d+")) {
        tasks.put(Integer.parseInt(task),
            new TaskEnd(fields.getOrDefault("JobState", "UNKNOWN"),
                fields.getOrDefault("ExitCode", "")));
      }
    }
    return tasks;
  }

  /**
   * The state of a job that is not an array ({@code squeue}), while Slurm holds it.
   *
   * @return e.g. {@code PENDING}, {@code RUNNING}; empty once it has ended
   * @throws SlurmException squeue failed for another reason than the job being gone
   */
  public java.util.Optional<String> state(String jobId) {
    Result result = run(List.of("squeue", "--noheader", "--jobs=" + jobId, "--format=%T"));
    if (result.exitCode() != 0) {
      if (result.message().contains("Invalid job id")) {
        return java.util.Optional.empty();
      }
      throw new SlurmException("squeue failed (exit " + result.exitCode() + "): "
          + result.message());
    }
    return result.out().lines().map(String::strip).filter(l -> !l.isEmpty()).findFirst();
  }

  /**
   * How a job that is not an array ended, while the controller remembers it
   * ({@code scontrol show job}; {@code MinJobAge}, 300 s by default).
   *
   * @return its state and exit code; empty where the job is unknown
   */
  public java.util.Optional<TaskEnd> end(String jobId) {
    Result result = run(List.of("scontrol", "--oneliner", "show", "job", jobId));
    if (result.exitCode() != 0) {
      return java.util.Optional.empty();
    }
    Map<String, String> fields = new HashMap<>();
    Matcher field = FIELD.matcher(result.out().lines().findFirst().orElse(""));
    while (field.find()) {
      fields.putIfAbsent(field.group(1), field.group(2));
    }
    return fields.containsKey("JobState")
        ? java.util.Optional.of(new TaskEnd(fields.get("JobState"), fields.getOrDefault("ExitCode", "")))
        : java.util.Optional.empty();
  }

  /** A word for a batch script (bash), in single quotes. */
  public static String quote(String word) {
    return "'" + word.replace("'", "'\\''") + "'";
  }

  /** Runs a Slurm client command, its first word looked up on the environment's PATH. */
  public Result run(List<String> command) {
    String executable = executable(command.get(0));
    if (executable == null) {
      throw new IllegalStateException(INSTALL);
    }
    List<String> resolved = new ArrayList<>(command);
    resolved.set(0, executable);
    ProcessBuilder builder = new ProcessBuilder(resolved)
        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
    builder.environment().clear();
    builder.environment().putAll(environment);
    try {
      Process process = builder.start();
      CompletableFuture<String> err = CompletableFuture.supplyAsync(
          () -> read(process.getErrorStream()));
      String out = read(process.getInputStream());
      if (!process.waitFor(COMMAND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new SlurmException(command.get(0) + " did not answer within "
            + COMMAND_TIMEOUT_SECONDS + " s: is slurmctld running?");
      }
      return new Result(process.exitValue(), out, err.join());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run " + executable, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new SlurmException("interrupted while running " + command.get(0));
    }
  }

  private String executable(String name) {
    String path = environment.getOrDefault("PATH", "");
    for (String dir : path.split(":")) {
      if (!dir.isEmpty()) {
        Path candidate = Path.of(dir, name);
        if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
          return candidate.toString();
        }
      }
    }
    return null;
  }

  private static String read(InputStream stream) {
    try (stream) {
      return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
