package io.latentlab.run;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A process's exclusive claim on a trial, held from before its run directory is touched until
 * the run ends. It is an OS file lock on a claim file outside the run directory
 * ({@link #fileOf}; not inside it: {@code --rerun} moves the directory aside). The kernel drops the lock
 * when the process dies, even by SIGKILL, so a dead process's claim is taken over by the next
 * process to start the trial, which then resumes from the run's checkpoints. The file itself is
 * never deleted (deleting a lock file races with a process about to lock it); while held it
 * says who holds it: host, pid and start time.
 *
 * <p>Any result directory can be claimed this way (sweeps claim their sampling trials' too).
 * Not reentrant: a second claim on the same path from this JVM is refused like any other, and
 * refused without opening the claim file: the lock is a POSIX record lock, which belongs to the
 * process and is dropped when the process closes <em>any</em> descriptor of the file, so a
 * refused probe from this JVM that opened and closed the file would silently hand this JVM's
 * claim to the next process that asks. Claims this JVM holds are therefore kept in {@link #HELD}
 * and answered from there.
 */
public final class RunClaim implements AutoCloseable {
  /** The claim files this JVM holds (or is taking), and what they say of their holder. */
  private static final Map<Path, String> HELD = new ConcurrentHashMap<>();
  private static final String TAKING = "this process, taking it now";

  private final Path file;
  private final FileChannel channel;
  private final FileLock lock;

  private RunClaim(Path file, FileChannel channel, FileLock lock) {
    this.file = file;
    this.channel = channel;
    this.lock = lock;
  }

  /**
   * The claim file of a directory: {@code <root>/.claims/<parent>/<name>.claim}, where a run
   * directory {@code <runs>/<experiment>/<trial>} has its claim at
   * {@code <runs>/.claims/<experiment>/<trial>.claim} — outside the experiment folder, so that
   * listing it shows only runs.
   */
  public static Path fileOf(Path runDirectory) {
    Path absolute = runDirectory.toAbsolutePath().normalize();
    Path parent = absolute.getParent();
    return parent.getParent().resolve(".claims").resolve(parent.getFileName().toString())
        .resolve(absolute.getFileName() + ".claim");
  }

  /**
   * Whether another process holds the claim on a run directory now (a probe: takes the claim
   * and lets it go at once where nobody holds it).
   */
  @SuppressWarnings("try") // the probe is only taken and let go
  public static boolean isClaimed(Path runDirectory) {
    if (!Files.exists(fileOf(runDirectory))) {
      return false;
    }
    try (RunClaim probe = acquire(runDirectory)) {
      return false;
    } catch (RunClaimedException e) {
      return true;
    }
  }

  /**
   * Claims a trial's run directory, or fails at once if another process holds it.
   *
   * @throws RunClaimedException naming the holder, if the trial is claimed
   */
  public static RunClaim acquire(Path runDirectory) {
    Path file = fileOf(runDirectory);
    String ours = HELD.putIfAbsent(file, TAKING);
    if (ours != null) {
      throw claimed(runDirectory, ours);
    }
    FileChannel channel = null;
    boolean taken = false;
    try {
      Files.createDirectories(file.getParent());
      channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
          StandardOpenOption.WRITE);
      FileLock lock;
      try {
        lock = channel.tryLock();
      } catch (OverlappingFileLockException e) {
        // Locked through a channel HELD does not know of: closing this one drops that lock,
        // which cannot be helped here; refuse all the same.
        lock = null;
      }
      if (lock == null) {
        String holder = readHolder(channel);
        channel.close();
        throw claimed(runDirectory, holder.isBlank() ? "holder unknown" : holder);
      }
      String holder = String.format("host %s, pid %d, since %s", hostName(),
          ProcessHandle.current().pid(), Instant.now());
      channel.truncate(0);
      channel.write(ByteBuffer.wrap(holder.getBytes(StandardCharsets.UTF_8)), 0);
      channel.force(false);
      HELD.put(file, holder);
      taken = true;
      return new RunClaim(file, channel, lock);
    } catch (IOException e) {
      closeQuietly(channel);
      throw new UncheckedIOException("cannot claim " + runDirectory + " (" + file + ")", e);
    } finally {
      if (!taken) {
        HELD.remove(file, TAKING);
      }
    }
  }

  private static RunClaimedException claimed(Path runDirectory, String holder) {
    return new RunClaimedException(String.format(
        "trial %s is already running elsewhere (%s); wait for it to finish, or stop that "
            + "process and run again to resume it", runDirectory.getFileName(), holder), holder);
  }

  private static String readHolder(FileChannel channel) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(512);
    channel.read(buffer, 0);
    return new String(buffer.array(), 0, buffer.position(), StandardCharsets.UTF_8).strip();
  }

  /** The host's name without a DNS lookup (which can hang for seconds on a badly set-up node). */
  private static String hostName() {
    String name = System.getenv("HOSTNAME");
    if (name == null || name.isBlank()) {
      try {
        name = Files.readString(Path.of("/etc/hostname")).strip();
      } catch (IOException | UncheckedIOException e) {
        name = "unknown host";
      }
    }
    return name;
  }

  private static void closeQuietly(FileChannel channel) {
    if (channel != null) {
      try {
        channel.close();
      } catch (IOException ignored) {
        // nothing was claimed
      }
    }
  }

  /** Releases the claim; the file stays, emptied, for the next claimant. */
  @Override
  public void close() {
    try {
      channel.truncate(0);
      lock.release();
      channel.close();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot release a run claim", e);
    } finally {
      HELD.remove(file);
    }
  }
}
