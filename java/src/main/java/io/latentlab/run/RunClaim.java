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
 * Not reentrant: a second claim on the same path from this JVM is refused like any other.
 */
public final class RunClaim implements AutoCloseable {
  private final FileChannel channel;
  private final FileLock lock;

  private RunClaim(FileChannel channel, FileLock lock) {
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
   * Claims a trial's run directory, or fails at once if another process holds it.
   *
   * @throws RunClaimedException naming the holder, if the trial is claimed
   */
  public static RunClaim acquire(Path runDirectory) {
    Path file = fileOf(runDirectory);
    FileChannel channel = null;
    try {
      Files.createDirectories(file.getParent());
      channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
          StandardOpenOption.WRITE);
      FileLock lock;
      try {
        lock = channel.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null; // this JVM already holds it
      }
      if (lock == null) {
        String holder = readHolder(channel);
        channel.close();
        holder = holder.isBlank() ? "holder unknown" : holder;
        throw new RunClaimedException(String.format(
            "trial %s is already running elsewhere (%s); wait for it to finish, or stop that "
                + "process and run again to resume it", runDirectory.getFileName(), holder),
            holder);
      }
      byte[] holder = String.format("host %s, pid %d, since %s", hostName(),
          ProcessHandle.current().pid(), Instant.now()).getBytes(StandardCharsets.UTF_8);
      channel.truncate(0);
      channel.write(ByteBuffer.wrap(holder), 0);
      channel.force(false);
      return new RunClaim(channel, lock);
    } catch (IOException e) {
      closeQuietly(channel);
      throw new UncheckedIOException("cannot claim " + runDirectory + " (" + file + ")", e);
    }
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
    }
  }
}
