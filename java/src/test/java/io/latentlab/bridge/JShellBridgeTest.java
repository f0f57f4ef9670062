package io.latentlab.bridge;

import io.latentlab.testing.TestProject;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bridge from a real JShell in its default mode (snippets run in a remote JVM, on its main
 * thread), as a researcher uses it: Python's output shows in JShell and tensors arrive.
 */
class JShellBridgeTest {
  private static final Path HOME = TestProject.home();

  @Test
  void jshellDefaultMode_callsPythonAndSeesItsOutput(@TempDir Path dir) throws IOException, InterruptedException {
    Path script = dir.resolve("session.jsh");
    Files.writeString(script, String.join("\n",
        "import io.latentlab.bridge.*;",
        "import io.latentlab.tensor.*;",
        "var python = PythonBridge.start();",
        "python.call(\"echo_print\", \"printed by Python inside JShell\");",
        "var memory = Allocators.aligned();",
        "var jaxAddress = new long[1];",
        "var tensor = Tensor.importFrom(memory, (a, s) -> jaxAddress[0] = python.callForLong(\"sample_tensor\", 2, a, s));",
        "System.out.println(\"zero-copy \" + (tensor.dataAddress() == jaxAddress[0]) + \" \" + tensor);",
        "tensor.close();",
        "memory.close();",
        "/exit", ""));
    String classPath;
    try (Stream<Path> jars = Files.list(HOME.resolve("target").resolve("lib"))) {
      classPath = Stream.concat(Stream.of(HOME.resolve("target").resolve("classes")), jars.sorted())
          .map(Path::toString).collect(Collectors.joining(File.pathSeparator));
    }
    Path jshell = Path.of(System.getProperty("java.home"), "bin", "jshell");
    Process process = new ProcessBuilder(List.of(jshell.toString(), "--class-path", classPath,
        "-R--add-opens=" + System.getProperty("latentlab.addOpens") + "=ALL-UNNAMED",
        "-R-Dlatentlab.home=" + HOME, "-R-Dlatentlab.testing=true",
        "--feedback", "silent", script.toString()))
        .directory(dir.toFile()).redirectErrorStream(true).start();
    process.getOutputStream().close();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(process.waitFor(180, TimeUnit.SECONDS), "jshell finished");
    assertEquals(0, process.exitValue(), output);
    assertTrue(output.contains("printed by Python inside JShell"), output);
    assertTrue(output.contains("zero-copy true Tensor[float32 2×2×3 mean 5.50 std 3.45]"), output);
  }
}
