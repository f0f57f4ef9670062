package io.latentlab.run;

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
}
