package io.latentlab.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.config.ConfigException;
import io.latentlab.store.RunFixtures;
import io.latentlab.store.Table;
import io.latentlab.testing.TestProject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JShell facade's pieces that need no Python: configs, tables, one-line errors, help. (The
 * real {@code jshell} session, with Python, is {@link ShellSessionTest}.)
 */
class LabTest {
  @TempDir Path dir;
  Lab lab;
  Path tiny;

  @BeforeEach
  void setUp() throws Exception {
    lab = Lab.open(TestProject.home());
    lab.runsDir(dir.resolve("runs").toString());
    tiny = dir.resolve("tiny.yaml");
    Files.writeString(tiny, TestProject.tinyExperiment("tiny-lab", 3, 4, 6));
  }

  @AfterEach
  void tearDown() {
    lab.close();
  }

  /** What {@code call} prints to System.out, with its result. */
  private static <T> Printed<T> printed(Supplier<T> call) {
    PrintStream original = System.out;
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
    try {
      T value = call.get();
      return new Printed<>(value, bytes.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(original);
    }
  }

  private record Printed<T>(T value, String text) {}

  @Test
  void configSet_returnsAChangedCopyAndLeavesTheOriginal() {
    Config base = lab.config(tiny.toString());
    Config changed = base.set("train.unet.steps", 200).set("sample.sampler", "heun");
    assertEquals(4, base.experiment().train().unet().steps());
    assertEquals(List.of(), base.overrides());
    assertEquals(200, changed.experiment().train().unet().steps());
    assertEquals("heun", changed.experiment().sample().sampler());
    assertEquals(List.of("train.unet.steps=200", "sample.sampler=\"heun\""), changed.overrides());
    assertEquals(base.set("train.unet.steps", 200), base.set("train.unet.steps", 200));
    assertFalse(base.equals(changed));
    assertTrue(changed.toString().startsWith("Config tiny-lab ("), changed.toString());
    assertTrue(changed.toString().endsWith(", train.unet.steps=200, sample.sampler=\"heun\")"),
        changed.toString());
  }

  @Test
  void configSet_unknownKey_oneLineNamingTheKeyWithoutStackTrace() {
    Config base = lab.config(tiny.toString());
    LabException e = assertThrows(LabException.class, () -> base.set("train.unet.stepz", 3));
    assertTrue(e.getMessage().contains("train.unet.stepz"), e.getMessage());
    assertTrue(e.getMessage().contains("unknown key"), e.getMessage());
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    assertEquals(0, e.getStackTrace().length, "JShell would print the frames");
  }

  @Test
  void config_badFile_namesTheFileLineAndKey() throws Exception {
    Path bad = dir.resolve("bad.yaml");
    Files.writeString(bad, "name: bad\ntrain:\n  stepz: 3\n");
    LabException e = assertThrows(LabException.class, () -> lab.config(bad.toString()));
    assertTrue(e.getMessage().startsWith(bad + ":3:3: train.stepz: unknown key"), e.getMessage());
    LabException missing = assertThrows(LabException.class, () -> lab.config(dir.resolve("none.yaml").toString()));
    assertTrue(missing.getMessage().contains("none.yaml: no such file"), missing.getMessage());
  }

  @Test
  void config_relativePath_isFoundInTheProject() {
    Config quickstart = lab.config("experiments/quickstart.yaml");
    assertEquals("quickstart", quickstart.name());
  }

  @Test
  void verbose_throwsTheOriginalException() {
    lab.verbose(true);
    assertThrows(ConfigException.class, () -> lab.config(dir.resolve("none.yaml").toString()));
  }

  @Test
  void query_printsAnAlignedTableAndReturnsItsRows() {
    Printed<Table> result = printed(() -> lab.query("SELECT 1 AS a, 'xyz' AS long_name UNION ALL SELECT 22, 'q' ORDER BY a"));
    String n = System.lineSeparator();
    assertEquals("a   long_name" + n + "--  ---------" + n + "1   xyz" + n + "22  q" + n, result.text());
    assertEquals(List.of(List.of(1L, "xyz"), List.of(22L, "q")), result.value().rows());
    assertEquals("Table[2 rows: a, long_name]", result.value().toString());
  }

  @Test
  void query_notAQuery_oneLine() {
    LabException e = assertThrows(LabException.class, () -> lab.query("DROP TABLE runs"));
    assertTrue(e.getMessage().startsWith("the store is read-only"), e.getMessage());
  }

  @Test
  void sampler_anotherSampler_getsItsOwnEtaUnlessOneWasChosen() throws Exception {
    Path run = RunFixtures.writeRun(lab.runsDir(), "etas", 1, "completed", true);
    // As a run records it: η resolved for its own sampler.
    java.nio.file.Files.writeString(run.resolve("config.yaml"), "name: etas\nsample: {sampler: ddim, eta: 0.0}\n");
    String id = run.getFileName().toString();
    assertEquals(0.0, lab.sampler(id).options().eta());
    assertEquals(0.0, lab.sampler(id).sampler("ddim").options().eta());
    assertEquals(1.0, lab.sampler(id).sampler("euler_ancestral").options().eta(), "its own, by Python's rule");
    assertEquals(0.3, lab.sampler(id).eta(0.3).sampler("euler_ancestral").options().eta());
  }

  @Test
  void runsAndShow_printTheRunsUnderTheRunsDir() {
    Path runs = lab.runsDir();
    Path first = RunFixtures.writeRun(runs, "alpha", 1, "completed", true);
    RunFixtures.writeRun(runs, "beta", 2, "running", false);
    Printed<Table> all = printed(lab::runs);
    assertEquals(2, all.value().rows().size());
    List<String> lines = all.text().lines().toList();
    assertTrue(lines.get(0).startsWith("experiment  trial         status"), all.text());
    assertTrue(lines.get(2).matches("alpha\\s+[0-9a-f]{12}\\s+completed\\s+.*"), all.text());
    assertTrue(lines.get(3).matches("beta\\s+[0-9a-f]{12}\\s+incomplete\\s+.*"), all.text());

    String id = first.getFileName().toString();
    Printed<Run> shown = printed(() -> lab.show(id.substring(0, 6)));
    assertEquals(first, shown.value().directory());
    assertEquals("completed", shown.value().status());
    assertTrue(shown.text().contains("metrics.vae_heldout_psnr_db  21.5000"), shown.text());
    assertTrue(shown.value().toString().matches(
        "Run alpha " + id + " completed vae_psnr_db 21\\.50 unet_loss 0\\.1000 .*" + id), shown.value().toString());
    LabException none = assertThrows(LabException.class, () -> lab.show("ffff0000"));
    assertTrue(none.getMessage().startsWith("no run under "), none.getMessage());
  }

  @Test
  void runs_none_saysWhereItLooked() {
    Printed<Table> none = printed(lab::runs);
    assertTrue(none.text().contains("(no rows; runs are read from "), none.text());
  }

  @Test
  void sampler_incompleteRun_refusedInOneLine() {
    Path running = RunFixtures.writeRun(lab.runsDir(), "gamma", 3, "running", false);
    LabException e = assertThrows(LabException.class, () -> lab.sampler(running.toString()));
    assertTrue(e.getMessage().endsWith("is running, not completed; a sampler needs its trained checkpoint"),
        e.getMessage());
  }

  @Test
  void tensor_printsTypeShapeMeanAndStd_untilItsScopeCloses() {
    float[] values = new float[12];
    for (int i = 0; i < values.length; i++) {
      values[i] = i;
    }
    var tensor = lab.tensor(new long[] {2, 2, 3}, values);
    assertEquals("Tensor[float32 2×2×3 mean 5.50 std 3.45]", tensor.toString());
    lab.close();
    assertEquals("Tensor[float32 2×2×3 closed]", tensor.toString(), "the lab's scope owned it");
  }

  @Test
  void scope_closesItsTensorsAndIsAChildOfTheLabs() {
    var outer = lab.scope();
    var inner = outer.child();
    var zeros = inner.zeros(4, 8, 8, 4);
    assertEquals("Tensor[float32 4×8×8×4 mean 0.00 std 0.00]", zeros.toString());
    assertEquals(0, zeros.dataAddress() % 64, "aligned, so JAX takes it without a copy");
    assertTrue(outer.allocatedBytes() >= 4 * 8 * 8 * 4 * 4, "the child's memory counts in its parent");
    try (var own = lab.scope()) {
      var kept = own.ofFloats(new long[] {1, 2}, new float[] {1, 3});
      assertEquals("Tensor[float32 1×2 mean 2.00 std 1.00]", kept.toString());
      own.close();
      assertEquals("Tensor[float32 1×2 closed]", kept.toString());
    }
    outer.close();
    assertTrue(inner.isClosed(), "closing a scope closes its children");
    assertEquals("Tensor[float32 4×8×8×4 closed]", zeros.toString());
    assertThrows(IllegalStateException.class, () -> inner.zeros(1, 1));
  }

  @Test
  void lab_startsNoPythonUntilNeeded() {
    assertTrue(lab.toString().contains("Python not started yet"), lab.toString());
  }

  @Test
  void help_listsEveryPublicMethod() {
    Set<String> documented = Lab.helpEntries().stream()
        .map(entry -> entry.substring(0, entry.indexOf('('))).collect(Collectors.toSet());
    Set<String> methods = Arrays.stream(Lab.class.getDeclaredMethods())
        .filter(m -> Modifier.isPublic(m.getModifiers()) && !Modifier.isStatic(m.getModifiers()))
        .map(Method::getName)
        .filter(name -> !Set.of("toString", "close").contains(name))
        .collect(Collectors.toSet());
    assertEquals(methods, documented);
    Printed<Object> help = printed(() -> {
      lab.help();
      return null;
    });
    assertTrue(help.text().contains("  lab.run(config)"), help.text());
    assertTrue(help.text().contains("  lab.sampler(run)"), help.text());
  }

  @Test
  void guard_unexpectedFailureWithoutMessage_saysHowToSeeMore() {
    LabException e = assertThrows(LabException.class, () -> lab.guard(() -> {
      throw new IllegalStateException();
    }));
    assertEquals("IllegalStateException (lab.verbose(true) shows where)", e.getMessage());
    LabException multi = assertThrows(LabException.class, () -> lab.guard(() -> {
      throw new IllegalArgumentException("first line\nsecond line");
    }));
    assertEquals("first line ...", multi.getMessage());
    LabException same = new LabException("kept");
    assertSame(same, assertThrows(LabException.class, () -> lab.guard(() -> {
      throw same;
    })));
  }
}
