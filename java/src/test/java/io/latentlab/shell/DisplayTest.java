package io.latentlab.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.latentlab.tensor.TensorScope;
import java.awt.image.BufferedImage;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Notebook pictures of colour images keep their colour. */
class DisplayTest {
  @Test
  void gridAndRows_ofRgbImages_areInColour() {
    try (TensorScope scope = TensorScope.root()) {
      float[] red = new float[2 * 3 * 4 * 3];
      for (int i = 0; i < red.length; i += 3) {
        red[i] = 1f;
      }
      var batch = scope.ofFloats(new long[] {2, 3, 4, 3}, red);
      BufferedImage grid = Display.grid(batch);
      assertEquals(0xFF0000, grid.getRGB(2, 2) & 0xFFFFFF);
      BufferedImage rows = Display.rows(List.of(batch, batch));
      assertEquals(BufferedImage.TYPE_INT_RGB, rows.getType());
      assertEquals(0xFF0000, rows.getRGB(3, grid.getHeight() + 4 + 3) & 0xFFFFFF, "second row, still red");
    }
  }
}
