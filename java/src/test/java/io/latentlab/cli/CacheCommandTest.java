package io.latentlab.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.testing.TestProject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code latentlab cache list | remove}: over caches the test writes in a project folder of its
 * own, through Python's latent_cache_list/remove; a cache a live process claims is never removed.
 */
class CacheCommandTest {
  private static final String WRITE = String.join("\n",
      "import json, sys, pyarrow as pa",
      "for name, examples in (('a', 3), ('b', 5)):",
      "    schema = pa.schema([('mean', pa.list_(pa.float32(), 2))], metadata={'latentlab': json.dumps(",
      "        {'vae': 'vae' + name * 20, 'fingerprint': 'data' + name * 20, 'examples': examples})})",
      "    table = pa.table({'mean': pa.FixedSizeListArray.from_arrays(pa.array([0.5] * 2 * examples, pa.float32()), 2)}, schema=schema)",
      "    with pa.OSFile(sys.argv[1] + '/' + name + '.arrow', 'wb') as sink, pa.ipc.new_file(sink, schema) as w:",
      "        w.write_table(table)");

  @TempDir
  Path home;

  @Test
  void listAndRemove_keepACacheInUse() throws Exception {
    PythonBridge.start(TestProject.home()); // the JVM's one interpreter; the caches are under `home`
    Path caches = Files.createDirectories(home.resolve(".cache/latents"));
    Process python = new ProcessBuilder(TestProject.home().resolve(".venv/bin/python").toString(), "-c",
        WRITE, caches.toString()).redirectErrorStream(true).start();
    String output = new String(python.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, python.waitFor(), output);
    // b is read by a live process (this JVM): its claim, as a training leaves it
    Files.writeString(caches.resolve("b.arrow.claim-" + ProcessHandle.current().pid()), "");

    String before = System.getProperty("latentlab.home");
    System.setProperty("latentlab.home", home.toString());
    try {
      Cli.Outcome list = Cli.execute("cache", "list");
      assertEquals(0, list.exitCode(), list.err());
      assertTrue(list.out().matches("(?s).*a\\.arrow +\\d+(\\.\\d)? k?B +3 +vaeaaaaaaaaa +dataaaaaaaaa +no\n.*"), list.out());
      assertTrue(list.out().matches("(?s).*b\\.arrow +\\d+(\\.\\d)? k?B +5 +vaebbbbbbbbb +databbbbbbbb +yes\n.*"), list.out());
      assertTrue(list.out().contains("2 caches, "), list.out());

      Cli.Outcome inUse = Cli.execute("cache", "remove", "b.arrow");
      assertEquals(2, inUse.exitCode(), inUse.out() + inUse.err());
      assertTrue(inUse.err().contains("latent cache 'b.arrow' is in use by a running trial"), inUse.err());
      Cli.Outcome missing = Cli.execute("cache", "remove", "c.arrow");
      assertEquals(2, missing.exitCode(), missing.err());
      assertTrue(missing.err().contains("no latent cache named 'c.arrow'") && missing.err().contains("a.arrow, b.arrow"),
          missing.err());

      Cli.Outcome all = Cli.execute("cache", "remove", "--all");
      assertEquals(0, all.exitCode(), all.err());
      assertTrue(all.out().contains("removed a.arrow (") && all.out().contains("kept b.arrow: a running trial uses it")
          && all.out().contains("1 removed,") && all.out().contains("1 in use kept"), all.out());
      assertFalse(Files.exists(caches.resolve("a.arrow")));
      assertTrue(Files.exists(caches.resolve("b.arrow")), "the cache in use is still there");

      Files.delete(caches.resolve("b.arrow.claim-" + ProcessHandle.current().pid())); // the training ended
      Cli.Outcome free = Cli.execute("cache", "remove", "b.arrow");
      assertEquals(0, free.exitCode(), free.err());
      assertFalse(Files.exists(caches.resolve("b.arrow")));
      assertTrue(Cli.execute("cache", "list").out().contains("no latent caches in .cache/latents"));
    } finally {
      if (before == null) {
        System.clearProperty("latentlab.home");
      } else {
        System.setProperty("latentlab.home", before);
      }
    }
  }
}
