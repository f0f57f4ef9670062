package io.latentlab.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
    return Path.of(System.getProperty("latentlab.home", ".")).toAbsolutePath();
  }

  @BeforeAll
  static void start() {
    bridge = PythonBridge.start(home());
  }

  @Test
  void start_twice_returnsTheSameBridge() {
    assertSame(bridge, PythonBridge.start(home()));
  }

  @Test
  void environment_reportsVersionsAndBackend() {
    String json = bridge.callForString("environment");
    assertTrue(json.contains("\"jax\": \"0.10.2\""), json);
    assertTrue(json.contains("\"backend\": \"cpu\""), json);
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
