package io.latentlab.lab;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The progress bars as a sweep drives them: one stage, again and again. */
class ProgressBarsTest {
  @Test
  void update_sameStageAfterItEnded_startsANewBar() {
    try (ProgressBars bars = new ProgressBars()) {
      bars.update("sample", 0, 1, Double.NaN);
      bars.update("sample", 1, 1, 12.5); // the stage ends: its bar closes
      assertDoesNotThrow(() -> bars.update("sample", 0, 1, Double.NaN)); // the next trial
      assertDoesNotThrow(() -> bars.update("sample", 1, 1, 11.0));
    }
  }

  @Test
  void update_afterClose_startsANewBar() {
    try (ProgressBars bars = new ProgressBars()) {
      bars.update("unet", 0, 4, Double.NaN);
      bars.close(); // a sweep closes the trial's bar when the trial ends
      assertDoesNotThrow(() -> bars.update("unet", 1, 4, 0.9));
    }
  }

  @Test
  void log_linesPerStageNamingWhatTheyCountAndTheirValue_noCarriageReturns() {
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    try (ProgressBars bars = ProgressBars.loggingTo(new java.io.PrintStream(bytes, true))) {
      bars.update("unet", 0, 400, Double.NaN);
      for (int step = 1; step <= 400; step++) {
        bars.update("unet", step, 400, 0.5);
      }
      bars.update("score", 0, 1, Double.NaN);
      bars.update("score", 1, 1, 12.5);
    }
    String text = bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
    java.util.List<String> lines = text.lines().toList();
    assertEquals(false, text.contains("\r"), text);
    // start and end of each stage; the 398 steps between fall inside one log interval
    assertEquals(4, lines.size(), text);
    assertTrue(lines.get(0).startsWith("train U-Net (steps): 0/400 (0%), compiling..."), lines.get(0));
    assertTrue(lines.get(1).startsWith("train U-Net (steps): 400/400 (100%), loss 0.5000, "), lines.get(1));
    assertTrue(lines.get(3).startsWith("sample and score: 1/1 (100%), FID 12.5000, "), lines.get(3));
  }

  @Test
  void stages_everyStagePythonReportsHasARow() throws java.io.IOException {
    // The stages are Python's: every progress("<stage>", ...) call in the package names one.
    java.util.regex.Pattern call = java.util.regex.Pattern.compile("progress\\(\"([a-z_]+)\"");
    java.util.Set<String> reported = new java.util.TreeSet<>();
    java.nio.file.Path python = io.latentlab.testing.TestProject.home().resolve("python/latentlab");
    try (java.util.stream.Stream<java.nio.file.Path> files = java.nio.file.Files.walk(python)) {
      for (java.nio.file.Path file : files.filter(f -> f.toString().endsWith(".py")).toList()) {
        java.util.regex.Matcher m = call.matcher(java.nio.file.Files.readString(file));
        while (m.find()) {
          reported.add(m.group(1));
        }
      }
    }
    reported.add("sample"); // SamplerSession reports the stepwise sampler's steps from Java
    assertTrue(reported.size() >= 7, reported.toString());
    assertEquals(new java.util.TreeSet<>(ProgressBars.STAGES.keySet()), reported);
  }
}
