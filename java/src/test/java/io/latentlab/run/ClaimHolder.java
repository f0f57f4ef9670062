package io.latentlab.run;

import io.latentlab.testing.TestProject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A separate process that claims a trial's run directory and holds the claim until it is
 * killed or its standard input closes: the "other process" of the claim tests.
 */
public final class ClaimHolder {
  private ClaimHolder() {}

  /** @param args the run directory to claim */
  public static void main(String[] args) throws Exception {
    try (RunClaim claim = RunClaim.acquire(Path.of(args[0]))) {
      System.out.println("claimed");
      System.out.flush();
      while (System.in.read() != -1) {
        // hold until stdin closes or the process is killed
      }
    }
  }

  /**
   * Starts a holder of {@code runDirectory}'s claim in a JVM of its own and waits until it has
   * taken the claim or failed to.
   *
   * @return the holder, alive and holding the claim; or, if the claim was refused, the holder
   *     process ended (exit code 1, the refusal on standard error)
   */
  public static Process start(Path runDirectory) throws IOException {
    Process holder = new ProcessBuilder(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", TestProject.testClassPath(),
        ClaimHolder.class.getName(), runDirectory.toString())
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    BufferedReader out = new BufferedReader(
        new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
    String line = out.readLine(); // "claimed", or null once a refused holder has exited
    if (line == null) {
      try {
        holder.waitFor();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    return holder;
  }

}
