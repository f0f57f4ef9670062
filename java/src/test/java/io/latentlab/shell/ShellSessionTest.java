package io.latentlab.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.latentlab.testing.TestProject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./latentlab shell} as a researcher uses it: the launcher starts the real {@code jshell},
 * a scripted session arrives on its stdin, and the test reads what the terminal would show. One
 * session (one Python start-up, one tiny training run) goes through every case in turn: a run
 * with progress, a one-cell sampling sweep, stepwise sampling with an intervention and a rewind, denoising through
 * the facade, a Python exception, two config
 * mistakes, and the end of input (Ctrl-D), after which jshell and its snippet JVM must be gone.
 *
 * <p>The launcher runs the packaged jar, so the test first checks that the jar is newer than the
 * sources: otherwise the launcher would start a second Maven build in the same target/ while
 * this one runs.
 */
class ShellSessionTest {
  private static final Path HOME = TestProject.home();
  /** Generous, and not a measurement: a cold XLA compile cache makes the tiny run ~90 s. */
  private static final long SESSION_LIMIT_SECONDS = 900;

  @TempDir static Path dir;
  static String output;
  static int exitCode;
  static long snippetJvm;

  @BeforeAll
  static void runScriptedSession() throws Exception {
    requireFreshJar();
    Path tiny = dir.resolve("tiny-shell.yaml");
    Files.writeString(tiny, TestProject.tinyExperiment("tiny-shell", 5, 3, 6));
    Path bad = dir.resolve("bad.yaml");
    Files.writeString(bad, "name: bad\ntrain:\n  stepz: 3\n");
    Map<String, String> paths = Map.of("RUNS", dir.resolve("runs").toString(), "TINY", tiny.toString(),
        "BAD", bad.toString(), "PNG", dir.resolve("intervened.png").toString());
    String script = """
        System.out.println("MARK before-python " + lab)
        lab.help()
        lab.runsDir("RUNS")
        var cfg = lab.config("TINY").set("sample.steps", 4)
        var run = lab.run(cfg)
        System.out.println("MARK run " + run)
        lab.runs()
        var sweep = lab.sweep(Sweep.sampling(run.trialId()).name("shell").grid("sample.steps", List.of(2)).evaluate(20).build())
        System.out.println("MARK sweep " + sweep)
        var untouched = lab.sampler(run).sampler("dpmpp_2m").steps(4).guidance(3).labels(1, 2, 3).open().finish().decode().toFloatArray()
        var again = lab.sampler(run).sampler("dpmpp_2m").steps(4).guidance(3).labels(1, 2, 3).open().finish().decode().toFloatArray()
        var s = lab.sampler(run).sampler("dpmpp_2m").steps(4).guidance(3).labels(1, 2, 3).open()
        s.step()
        System.out.println("MARK x0 " + s.x0())
        s.setLatents(lab.tensor(s.latents().shape(), new float[s.latents().toFloatArray().length]))
        System.out.println("MARK set " + s.latents())
        var intervened = s.finish().decode().toFloatArray()
        System.out.println("MARK same-untouched " + Arrays.equals(untouched, again) + " same-intervened " + Arrays.equals(untouched, intervened))
        s.save("PNG")
        var r = lab.sampler(run).sampler("dpmpp_2m").steps(4).guidance(3).labels(1, 2, 3).open()
        var start = r.latents()
        r.rewind(start)
        r.step().rewind(start)
        System.out.println("MARK rewound-same " + Arrays.equals(untouched, r.finish().decode().toFloatArray()))
        var denoised = lab.denoise(run).noiseSigmas(0.3).heldout(4).calibration(4).steps(2).average(1).run()
        System.out.println("MARK denoise " + denoised + " rows " + denoised.json().get("rows").size())
        lab.denoise(run).noiseSigmas(2).run()
        lab.python("1/0")
        System.out.println("MARK python " + lab.python("6 * 7"))
        lab.config("BAD")
        lab.config("TINY").set("train.unet.stepz", 3)
        System.out.println("MARK alive " + ProcessHandle.current().pid())
        """;
    for (Map.Entry<String, String> path : paths.entrySet()) {
      script = script.replace("\"" + path.getKey() + "\"", "\"" + path.getValue() + "\"");
    }

    ProcessBuilder builder = new ProcessBuilder(HOME.resolve("latentlab").toString(), "shell")
        .directory(dir.toFile()).redirectErrorStream(true);
    builder.environment().put("LC_ALL", "C.UTF-8"); // the × of tensor shapes, whatever the host's locale
    Process shell = builder.start();
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    Thread reader = new Thread(() -> copy(shell.getInputStream(), printed), "jshell-output");
    reader.start();
    try (OutputStream stdin = shell.getOutputStream()) {
      stdin.write(script.getBytes(StandardCharsets.UTF_8));
    } // closing stdin is Ctrl-D at the prompt
    boolean exited = shell.waitFor(SESSION_LIMIT_SECONDS, TimeUnit.SECONDS);
    if (!exited) {
      shell.descendants().forEach(ProcessHandle::destroyForcibly);
      shell.destroyForcibly();
    }
    reader.join(TimeUnit.SECONDS.toMillis(30));
    output = printed.toString(StandardCharsets.UTF_8);
    assertTrue(exited, "jshell did not exit after its input ended:\n" + output);
    assertFalse(reader.isAlive(), "jshell exited but something it started still holds its output:\n" + output);
    exitCode = shell.exitValue();
    Matcher alive = Pattern.compile("MARK alive (\\d+)").matcher(output);
    snippetJvm = alive.find() ? Long.parseLong(alive.group(1)) : -1;
  }

  private static void requireFreshJar() throws IOException {
    Path jar = HOME.resolve("target").resolve("latentlab.jar");
    if (!Files.isRegularFile(jar)) {
      fail("no " + jar + "; build it first (mvn package -DskipTests), as ./latentlab test does");
    }
    FileTime built = Files.getLastModifiedTime(jar);
    try (Stream<Path> sources = Stream.concat(Stream.of(HOME.resolve("pom.xml")),
        Files.walk(HOME.resolve("java").resolve("src").resolve("main")))) {
      List<Path> newer = sources.filter(Files::isRegularFile)
          .filter(p -> lastModified(p).compareTo(built) > 0).toList();
      if (!newer.isEmpty()) {
        fail(jar + " is older than " + newer.get(0) + " (and " + (newer.size() - 1) + " more); "
            + "build it first (mvn package -DskipTests) so that the launcher does not rebuild it "
            + "during this Maven run");
      }
    }
  }

  private static FileTime lastModified(Path path) {
    try {
      return Files.getLastModifiedTime(path);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static void copy(InputStream from, ByteArrayOutputStream to) {
    byte[] buffer = new byte[8192];
    try {
      for (int n; (n = from.read(buffer)) >= 0; ) {
        synchronized (to) {
          to.write(buffer, 0, n);
        }
      }
    } catch (IOException e) {
      // the process ended
    }
  }

  private static List<String> lines() {
    return output.lines().toList();
  }

  /** The line after the first one containing {@code text}. */
  private static String lineAfter(String text) {
    List<String> lines = lines();
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).contains(text)) {
        return i + 1 < lines.size() ? lines.get(i + 1) : "";
      }
    }
    fail("no line contains '" + text + "':\n" + output);
    return null;
  }

  @Test
  void prompt_labIsBoundAndPythonStartsOnFirstUse() {
    assertTrue(output.contains("MARK before-python Lab " + HOME + " (runs in "), output);
    assertTrue(output.contains("Python not started yet"), output);
    assertTrue(output.contains("lab.sampler(run)"), "lab.help() lists the facade:\n" + output);
    int starting = output.indexOf("starting Python (JAX) in this JVM for this session...");
    assertTrue(starting > output.indexOf("MARK before-python"), output);
    assertEquals(starting, output.lastIndexOf("starting Python (JAX)"), "said once:\n" + output);
  }

  @Test
  void run_showsProgressAndPrintsOneLine() {
    assertTrue(output.contains("experiment tiny-shell, trial "), output);
    assertTrue(output.contains("train U-Net"), "a progress bar per stage:\n" + output);
    Matcher run = Pattern.compile("MARK run Run tiny-shell ([0-9a-f]{12}) completed vae_psnr_db \\S+ unet_loss \\S+ (\\S+)")
        .matcher(output);
    assertTrue(run.find(), output);
    assertTrue(run.group(2).endsWith("runs/tiny-shell/" + run.group(1)), run.group(2));
    assertTrue(Files.isRegularFile(dir.resolve("runs/tiny-shell").resolve(run.group(1)).resolve("result.json")));
    assertTrue(lines().stream().anyMatch(l -> l.matches("tiny-shell\\s+" + run.group(1) + "\\s+completed\\s.*")),
        "lab.runs() prints the run as a table row:\n" + output);
  }

  @Test
  void sweep_runsInThisJvmAndPrintsItsTrials() {
    assertTrue(output.contains("sweep shell: 1 trials"), output);
    assertTrue(lines().stream().anyMatch(l -> l.matches("[0-9a-f]{12}\\s+completed\\s+2\\s.*")),
        "the trials as a table (trial, state, steps, metrics):\n" + output);
    assertTrue(output.contains("MARK sweep Sweep shell: 1 trials, 1 completed, 0 failed"), output);
  }

  @Test
  void sampler_stepwiseIntervention_changesTheResult() {
    assertTrue(output.contains("MARK x0 Tensor[float32 3×8×8×4 mean "), output);
    assertTrue(output.contains("MARK set Tensor[float32 3×8×8×4 mean 0.00 std 0.00]"),
        "Python holds the latents Java set:\n" + output);
    assertTrue(output.contains("MARK same-untouched true same-intervened false"), output);
    Path png = dir.resolve("intervened.png");
    assertTrue(output.contains("saved " + png), output);
    assertTrue(Files.isRegularFile(png));
  }

  @Test
  void sampler_rewindToTheStartingLatents_retakesTheStep_andNeedsAStepFirst() {
    assertTrue(output.contains("MARK rewound-same true"), output);
    assertTrue(output.contains("LabException: RuntimeError: no step to go back over"), output);
  }

  @Test
  void denoise_runsTheCommandInThisJvm_andRefusesBadOptionsInOneLine() {
    Matcher denoised = Pattern.compile("MARK denoise denoise ([0-9a-f]{12}) (\\S+) \\(1 picture\\) rows 6").matcher(output);
    assertTrue(denoised.find(), output);
    assertTrue(denoised.group(2).endsWith("denoise/" + denoised.group(1) + ".json"), denoised.group());
    assertTrue(Files.isRegularFile(dir.resolve(denoised.group(2))), denoised.group());
    assertTrue(output.contains("| non-local means |"), "the command's table is printed:\n" + output);
    assertTrue(output.contains("LabException: denoise: --noise-sigma: each must be in [0, 1]"), output);
  }

  @Test
  void pythonException_isOneLineAndTheSessionGoesOn() {
    assertTrue(output.contains("LabException: ZeroDivisionError: division by zero"), output);
    assertFalse(lineAfter("ZeroDivisionError").matches("\\|\\s+at .*"), output);
    assertTrue(output.contains("MARK python 42"), "the next snippet ran:\n" + output);
  }

  @Test
  void badConfig_isOneLineNamingFileAndKey() {
    assertTrue(output.contains("LabException: " + dir.resolve("bad.yaml") + ":3:3: train.stepz: unknown key"), output);
    assertTrue(output.contains("LabException: override 'train.unet.stepz=3': train.unet.stepz: unknown key"), output);
    assertFalse(lineAfter("train.stepz: unknown key").matches("\\|\\s+at .*"), output);
  }

  @Test
  void noStackTraceAnywhere() {
    assertTrue(lines().stream().noneMatch(l -> l.matches("\\|?\\s+at [\\w.$(#].*")), output);
    assertFalse(output.contains("Caused by"), output);
  }

  @Test
  void endOfInput_endsJShellAndTheSnippetJvm() throws InterruptedException {
    assertTrue(snippetJvm > 0, "the last snippet ran:\n" + output);
    assertEquals(0, exitCode, output);
    for (int i = 0; i < 100 && ProcessHandle.of(snippetJvm).map(ProcessHandle::isAlive).orElse(false); i++) {
      Thread.sleep(100);
    }
    assertFalse(ProcessHandle.of(snippetJvm).map(ProcessHandle::isAlive).orElse(false),
        "the JVM that ran the snippets (and Python) is gone");
  }
}
