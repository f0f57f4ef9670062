package io.latentlab.lab;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;

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
}
