package io.latentlab.bridge;

import io.latentlab.testing.TestProject;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Runs the real embedded CPython through Jep (the project's .venv). */
class PythonBridgeTest {
  static PythonBridge bridge;

  static Path home() {
    return TestProject.home();
  }

  @BeforeAll
  static void start() {
    bridge = PythonBridge.start(home());
  }

  @Test
  void start_twice_returnsTheSameBridge() {
    bridge = PythonBridge.start(home());
    assertSame(bridge, PythonBridge.start(home()));
  }

  @Test
  void environment_reportsVersionsAndBackend() throws java.io.IOException {
    String json = bridge.callForString("environment");
    // The jax that environment.yml pins, and the backend the running JAX chose (cpu here, gpu
    // on a machine with one): what the report says must be what is there, on any machine.
    String pinned = PinnedVersionsTest.find(home().resolve("environment.yml"), "(?m)^\\s*- jax==(\\S+)");
    assertTrue(json.contains("\"jax\": \"" + pinned + "\""), json);
    String backend = bridge.callForString("repl_evaluate", "jax.default_backend()").replace("'", "");
    assertTrue(json.contains("\"backend\": \"" + backend + "\""), backend + " vs " + json);
    assertTrue(json.contains("\"jep\": \"" + bridge.environment().jarJepVersion() + "\""), json);
  }

  @Test
  void jepVersions_jarAndNativeAgree() {
    assertEquals(bridge.environment().jarJepVersion(), bridge.environment().nativeJepVersion());
  }

  @Test
  void call_pythonRaises_becomesPythonExceptionWithTypeMessageAndTraceback() {
    PythonException e = assertThrows(PythonException.class,
        () -> bridge.call("resolve_config", "{\"model\": {\"vae\": {\"chanels\": 3}}}"));
    assertEquals("ValueError", e.pythonType());
    assertTrue(e.pythonMessage().startsWith("model.vae.chanels: unknown key; allowed: "), e.pythonMessage());
    assertTrue(e.traceback().contains("resolve_section"), e.traceback());
    assertTrue(e.traceback().contains("Traceback (most recent call last)"), e.traceback());
  }

  @Test
  void call_raiseFrom_keepsTheChainedCause() {
    PythonException e = assertThrows(PythonException.class, () -> bridge.call("resolve_config", "{not json"));
    assertEquals("ValueError", e.pythonType());
    assertEquals("the config sent to Python is not valid JSON", e.pythonMessage());
    PythonException cause = (PythonException) e.getCause();
    assertEquals("json.decoder.JSONDecodeError", cause.pythonType());
    assertTrue(cause.pythonMessage().startsWith("Expecting property name"), cause.pythonMessage());
    assertTrue(e.traceback().contains("The above exception was the direct cause"), e.traceback());
  }

  @Test
  void pythonPrint_reachesTheCurrentSystemOut() {
    java.io.PrintStream original = System.out;
    java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
    System.setOut(new java.io.PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8));
    try {
      bridge.call("echo_print", "hello from Python");
    } finally {
      System.setOut(original);
    }
    assertEquals("hello from Python\n", captured.toString(java.nio.charset.StandardCharsets.UTF_8));
  }

  @Test
  void jepVersionMismatch_isOneLineNamingBothAndTheFix() {
    PythonEnvironment e = bridge.environment();
    PythonEnvironment mismatched = new PythonEnvironment(e.home(), e.sitePackages(), e.jepLibrary(), "4.2.2", "4.3.1");
    IllegalStateException error = assertThrows(IllegalStateException.class, mismatched::checkJepVersions);
    assertTrue(error.getMessage().startsWith("Jep mismatch: the jar is 4.3.1 (pom.xml jep.version) but the native library in "), error.getMessage());
    assertTrue(error.getMessage().endsWith(" is 4.2.2 (environment.yml); make the two pins equal and run ./latentlab setup"));
    assertFalse(error.getMessage().contains("\n"));
  }

  @Test
  void close_thenCall_failsClearly_andStartGivesAFreshBridge() {
    PythonBridge old = PythonBridge.start(home());
    old.close();
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> old.call("environment"));
    assertEquals("the Python bridge is closed; start a new one with PythonBridge.start", e.getMessage());
    bridge = PythonBridge.start(home());
    assertTrue(bridge.callForString("environment").contains("\"backend\""));
  }

  @Test
  void call_unknownFunction_refused() {
    PythonException e = assertThrows(PythonException.class, () -> bridge.call("os_system", "true"));
    assertEquals("AttributeError", e.pythonType());
    assertTrue(e.pythonMessage().contains("no public function 'os_system'"), e.pythonMessage());
  }

  @Test
  void call_fromManyThreads_allRunOnTheInterpreterThread() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<String>> results = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        String config = "{\"model\": {\"unet\": {\"channels\": " + (8 * (i + 1)) + "}}}";
        results.add(pool.submit(() -> bridge.callForString("resolve_config", config)));
      }
      for (int i = 0; i < 8; i++) {
        String resolved = results.get(i).get();
        assertTrue(resolved.contains("\"channels\": " + (8 * (i + 1)) + ","), resolved);
      }
    } finally {
      pool.shutdown();
    }
  }
}
