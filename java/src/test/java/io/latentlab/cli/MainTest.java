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

  @Test
  void dataAndCacheCommands_areListedAndTheirHelpSaysWhatTheyDo() {
    String top = Cli.execute("--help").out();
    assertTrue(top.contains("  data ") && top.contains("  cache "), top);
    String data = Cli.execute("data", "--help").out();
    assertTrue(data.contains("Usage: latentlab data [-hV] [--out=DIR] CONFIG [OVERRIDE...]"), data);
    assertTrue(data.contains(".cache/data-preview/<experiment>/") && data.contains("./latentlab data experiments/emoji.yaml"), data);
    String cache = Cli.execute("cache", "--help").out();
    assertTrue(cache.contains("list") && cache.contains("remove") && cache.contains("never removed"), cache);
    Cli.Outcome neither = Cli.execute("cache", "remove");
    assertEquals(2, neither.exitCode(), neither.err());
    assertTrue(neither.err().contains("give either a cache NAME or --all"), neither.err());
    Cli.Outcome both = Cli.execute("cache", "remove", "x.arrow", "--all");
    assertEquals(2, both.exitCode(), both.err());
    Cli.Outcome bare = Cli.execute("cache");
    assertEquals(2, bare.exitCode(), bare.err());
    assertTrue(bare.err().contains("a subcommand is required: list or remove"), bare.err());
  }

  @Test
  void data_badConfig_oneLineExit2BeforePython() throws Exception {
    java.nio.file.Path file = java.nio.file.Files.createTempFile("bad-data", ".yaml");
    try {
      java.nio.file.Files.writeString(file, "name: x\ndata: {dataset: image-folder}\n");
      Cli.Outcome outcome = Cli.execute("data", file.toString());
      assertEquals(2, outcome.exitCode(), outcome.err());
      assertEquals(1, outcome.err().lines().count(), outcome.err());
      assertTrue(outcome.err().contains("data.path: image-folder needs the data's folder"), outcome.err());
    } finally {
      java.nio.file.Files.delete(file);
    }
  }
}
