package io.latentlab.run;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The code a run came from.
 *
 * @param commit the HEAD commit's hash, or {@code unknown} outside a git checkout
 * @param dirty whether tracked files differ from that commit (or untracked files exist)
 */
public record GitState(String commit, boolean dirty) {

  /** Reads the state of the checkout at {@code home}; never fails (git may be missing). */
  public static GitState of(Path home) {
    String commit = run(home, "git", "rev-parse", "HEAD");
    if (commit == null || commit.isBlank()) {
      return new GitState("unknown", true);
    }
    String status = run(home, "git", "status", "--porcelain");
    return new GitState(commit.strip(), status == null || !status.isBlank());
  }

  private static String run(Path home, String... command) {
    try {
      Process process = new ProcessBuilder(command).directory(home.toFile())
          .redirectError(ProcessBuilder.Redirect.DISCARD).start();
      String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0) {
        return null;
      }
      return out;
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }
}
