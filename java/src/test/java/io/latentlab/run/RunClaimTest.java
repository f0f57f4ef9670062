package io.latentlab.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The claim on a trial: within one JVM, and against a holder in another (the runs of two processes are in cli.RunClaimProcessTest). */
class RunClaimTest {
  @TempDir Path runs;

  @Test
  void acquire_whileHeld_refusedNamingTheHolder() {
    Path run = runs.resolve("tiny").resolve("0123456789ab");
    try (RunClaim held = RunClaim.acquire(run)) {
      RunClaimedException refused = assertThrows(RunClaimedException.class, () -> RunClaim.acquire(run));
      assertTrue(refused.getMessage().contains("pid " + ProcessHandle.current().pid()), refused.getMessage());
      assertFalse(refused.getMessage().contains("\n"), "one line");
    }
    try (RunClaim again = RunClaim.acquire(run)) {
      assertTrue(Files.isRegularFile(RunClaim.fileOf(run)), "released claims can be taken again");
    }
  }

  @Test
  void acquire_refusedInThisJvm_leavesTheClaimHeldAgainstOtherProcesses() throws Exception {
    Path run = runs.resolve("tiny").resolve("0123456789ab");
    try (RunClaim held = RunClaim.acquire(run)) {
      assertThrows(RunClaimedException.class, () -> RunClaim.acquire(run));
      // The lock is the process's POSIX record lock: had the refused probe opened and closed
      // the claim file, the kernel would have dropped it, and this process would take it.
      Process other = ClaimHolder.start(run);
      try {
        assertFalse(other.isAlive(), "another process took a claim this JVM holds");
        assertEquals(1, other.exitValue());
      } finally {
        other.destroyForcibly();
      }
    }
    Process other = ClaimHolder.start(run);
    try {
      assertTrue(other.isAlive(), "released, the claim goes to the next process that asks");
    } finally {
      other.destroyForcibly();
      other.waitFor();
    }
  }

  @Test
  void acquire_claimFileSitsOutsideTheExperimentFolder() {
    Path run = runs.resolve("tiny").resolve("0123456789ab");
    try (RunClaim held = RunClaim.acquire(run)) {
      assertTrue(Files.isRegularFile(runs.resolve(".claims").resolve("tiny").resolve("0123456789ab.claim")));
      assertFalse(Files.exists(runs.resolve("tiny")), "the experiment folder holds runs only");
      assertFalse(Files.exists(run), "claiming creates no run directory");
    }
  }
}
