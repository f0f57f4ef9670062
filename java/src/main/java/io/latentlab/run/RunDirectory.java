package io.latentlab.run;

import io.latentlab.config.TrialId;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * One trial's folder, {@code <runs>/<experiment>/<trial-id>/}: everything a run produces lives
 * here. Files are written atomically (a temporary file, then a rename) and {@code result.json},
 * written last, marks the run complete; a run without it is never read as complete.
 *
 * <p>Not thread-safe: one run writes its folder.
 */
public final class RunDirectory {
  /** The run's resolved config, written when the run directory is created. */
  public static final String CONFIG = "config.yaml";
  /** What produced the run, written when it starts and again when it ends. */
  public static final String PROVENANCE = "provenance.json";
  /** Written last; its presence means the run completed. */
  public static final String RESULT = "result.json";
  /** Appended to while the run trains; one JSON object per line. */
  public static final String METRICS = "metrics.jsonl";
  /** The folder of trained weights, which {@code SamplerSession} and evaluations open. */
  public static final String CHECKPOINT = "checkpoint";
  /** In {@link #CHECKPOINT}: the manifest of the trained weights, written when they are saved. */
  public static final String CHECKPOINT_MANIFEST = "checkpoint.json";

  /**
   * Whether a run folder is complete: {@link #RESULT} exists (written last, so a killed run is
   * never read as complete). The one definition of "a completed run".
   */
  public static boolean isCompleted(Path folder) {
    return Files.isRegularFile(folder.resolve(RESULT));
  }

  /**
   * Whether a run folder holds trained weights: {@code checkpoint/checkpoint.json} exists. A run
   * may have weights without being complete (killed while sampling) and, from before
   * checkpoints were kept, be complete without weights; what applies a model needs both.
   */
  public static boolean hasTrainedWeights(Path folder) {
    return Files.isRegularFile(folder.resolve(CHECKPOINT).resolve(CHECKPOINT_MANIFEST));
  }

  private final Path path;

  private RunDirectory(Path path) {
    this.path = path;
  }

  /** The folder a trial uses under a runs root (it may not exist yet). */
  public static Path locate(Path runsRoot, String experiment, TrialId id) {
    return runsRoot.resolve(experiment).resolve(id.shortId());
  }

  /**
   * Opens a trial's folder, creating it atomically with its first file if it does not exist: a
   * reader sees either no folder or one that already holds {@code firstFile}.
   *
   * @param firstFile name of the file written before the folder appears (e.g. config.yaml)
   * @param firstContent its bytes
   */
  public static RunDirectory create(Path runsRoot, String experiment, TrialId id, String firstFile,
      byte[] firstContent) {
    Path target = locate(runsRoot, experiment, id);
    if (Files.isDirectory(target)) {
      RunDirectory existing = new RunDirectory(target);
      existing.write(firstFile, firstContent);
      return existing;
    }
    try {
      Files.createDirectories(target.getParent());
      Path staging = Files.createTempDirectory(target.getParent(), "." + id.shortId() + ".staging-");
      // temp folders start owner-only (0700); run folders are for the whole team, like their files
      readableByAll(staging, "rwxr-xr-x");
      Files.write(staging.resolve(firstFile), firstContent);
      try {
        Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException raced) {
        deleteTree(staging); // another process created it first: use theirs
      }
      return new RunDirectory(target);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create run directory " + target, e);
    }
  }

  /**
   * An existing run's folder, for writing files beside what the run wrote (evaluations).
   *
   * @throws IllegalArgumentException if it is not a completed run
   */
  public static RunDirectory existing(Path folder) {
    RunDirectory dir = new RunDirectory(folder.toAbsolutePath().normalize());
    if (!dir.isComplete()) {
      throw new IllegalArgumentException(folder + " is not a completed run (no " + RESULT + ")");
    }
    return dir;
  }

  /**
   * A run named by its directory or by the start of its trial id (4+ hex digits) under a runs
   * root. An id names the trial's live run, not the copies {@code --rerun} set aside, unless a
   * set-aside copy is all there is.
   *
   * @throws IllegalArgumentException in one line if it names no run or several
   */
  public static Path find(Path runsRoot, String run) {
    Path direct = Path.of(run);
    if (Files.isRegularFile(direct.resolve(PROVENANCE))) {
      return direct.toAbsolutePath().normalize();
    }
    if (!run.matches("[0-9a-f]{4,64}")) {
      throw new IllegalArgumentException(
          "'" + run + "' is neither a run directory nor a trial id (4+ hex digits)");
    }
    String prefix = run.substring(0, Math.min(run.length(), 12));
    java.util.List<Path> matches;
    try (java.util.stream.Stream<Path> dirs = Files.isDirectory(runsRoot)
        ? Files.walk(runsRoot, 2) : java.util.stream.Stream.empty()) {
      matches = dirs.filter(p -> p.getNameCount() == runsRoot.getNameCount() + 2)
          .filter(p -> p.getFileName().toString().startsWith(prefix))
          .filter(p -> Files.isRegularFile(p.resolve(PROVENANCE)))
          .sorted()
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + runsRoot, e);
    }
    // One trial (same experiment folder, same id) may have a live folder and replaced ones.
    java.util.Set<Path> trials = new java.util.HashSet<>();
    for (Path match : matches) {
      trials.add(match.resolveSibling(match.getFileName().toString().split("\\.", 2)[0]));
    }
    if (trials.size() == 1) {
      Path live = trials.iterator().next();
      if (matches.contains(live) || matches.size() == 1) {
        return matches.contains(live) ? live : matches.get(0);
      }
    }
    throw new IllegalArgumentException(matches.isEmpty()
        ? String.format("no run under %s matches '%s'", runsRoot, run)
        : String.format("%d runs under %s match '%s' (%s); give more digits or the directory",
            matches.size(), runsRoot, run, String.join(", ", matches.stream()
                .map(p -> runsRoot.relativize(p).toString()).toList())));
  }

  /** The folder. */
  public Path path() {
    return path;
  }

  /** True once {@code result.json} exists. */
  public boolean isComplete() {
    return isCompleted(path);
  }

  /** Writes a file atomically: other readers see the old content or the new, never a part. */
  public void write(String name, byte[] content) {
    write(name, out -> out.write(content));
  }

  /** Writes a UTF-8 text file atomically. */
  public void writeText(String name, String text) {
    write(name, text.getBytes(StandardCharsets.UTF_8));
  }

  /** Writes a file atomically from a stream writer. */
  public void write(String name, StreamWriter writer) {
    Path target = path.resolve(name);
    if (!target.normalize().startsWith(path)) {
      throw new IllegalArgumentException("'" + name + "' would leave the run directory");
    }
    writeAtomically(target, writer);
  }

  /**
   * Writes any file atomically: a temporary file beside it (readable by all, like run files),
   * then a rename; readers see the old content or the new, never a part.
   */
  public static void writeAtomically(Path target, StreamWriter writer) {
    Path temp = null;
    try {
      temp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".tmp");
      readableByAll(temp, "rw-r--r--"); // temp files start owner-only; run files are for the team
      try (OutputStream out = Files.newOutputStream(temp, StandardOpenOption.WRITE)) {
        writer.writeTo(out);
      }
      try {
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + target, e);
    } finally {
      if (temp != null) {
        try {
          Files.deleteIfExists(temp);
        } catch (IOException ignored) {
          // best effort: a stray temp file is harmless
        }
      }
    }
  }

  /** Appends one line to a log file (metrics.jsonl); a crash can lose at most the last line. */
  public void appendLine(String name, String line) {
    try {
      Files.writeString(path.resolve(name), line + "\n", StandardCharsets.UTF_8,
          StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot append to " + path.resolve(name), e);
    }
  }

  /** Removes a file if it exists (e.g. the metrics of an earlier, incomplete attempt). */
  public void delete(String name) {
    try {
      Files.deleteIfExists(path.resolve(name));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + path.resolve(name), e);
    }
  }

  private static void readableByAll(Path file, String permissions) throws IOException {
    if (file.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString(permissions));
    }
  }

  private static void deleteTree(Path root) throws IOException {
    try (var paths = Files.walk(root)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  /** Writes the content of a file. */
  @FunctionalInterface
  public interface StreamWriter {
    /** @param out the temporary file's stream; do not close it */
    void writeTo(OutputStream out) throws IOException;
  }
}
