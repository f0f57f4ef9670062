package io.latentlab.run;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The claim on a trial, within one JVM (the two-process cases are in cli.RunClaimProcessTest). */
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
  void acquire_claimFileSitsOutsideTheExperimentFolder() {
    Path run = runs.resolve("tiny").resolve("0123456789ab");
    try (RunClaim held = RunClaim.acquire(run)) {
      assertTrue(Files.isRegularFile(runs.resolve(".claims").resolve("tiny").resolve("0123456789ab.claim")));
      assertFalse(Files.exists(runs.resolve("tiny")), "the experiment folder holds runs only");
      assertFalse(Files.exists(run), "claiming creates no run directory");
    }
  }
}
