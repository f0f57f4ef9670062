package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The top-level command line: usage errors without starting Python. */
class MainTest {
  @Test
  void unknownCommandWithHelp_isAUsageErrorNamingItAndTheCommands() {
    Cli.Outcome outcome = Cli.execute("no-such-command", "--help");
    assertEquals(2, outcome.exitCode(), outcome.out() + outcome.err());
    assertEquals(1, outcome.err().lines().count(), outcome.err());
    assertTrue(outcome.err().contains("'no-such-command'"), outcome.err());
    assertTrue(outcome.err().contains("denoise") && outcome.err().contains("evaluate"), outcome.err());
    assertEquals("", outcome.out(), "no help printed");
  }

  @Test
  void modelCommandsHelp_saysEachSamplingDefault_andOffersOnlyTheOptionsTheirTaskUses() {
    String denoise = Cli.execute("denoise", "--help").out();
    assertTrue(denoise.contains("(default ddim)") && denoise.contains("(default 20)"), denoise);
    assertTrue(!denoise.contains("--guidance"), denoise);
    String inpaint = Cli.execute("inpaint", "--help").out();
    assertTrue(inpaint.contains("(default ddim)") && inpaint.contains("(default 50)"), inpaint);
    String evaluate = Cli.execute("evaluate", "--help").out();
    assertTrue(evaluate.contains("--guidance") && evaluate.contains("default: the run's"), evaluate);
    Cli.Outcome refused = Cli.execute("denoise", "x", "--noise-sigma", "0.1", "--guidance", "2");
    assertEquals(2, refused.exitCode(), refused.err());
  }
}
