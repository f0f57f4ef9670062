package io.latentlab.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/** Image grids in colour and at any size, read back from the PNG they are written as. */
class ImagesTest {
  @Test
  void grid_rgbAnySize_keepsEachPixelsColour() throws Exception {
    int n = 3;
    int height = 5;
    int width = 7;
    float[] values = new float[n * height * width * 3];
    for (int i = 0; i < n; i++) {
      for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
          int at = ((i * height + y) * width + x) * 3;
          values[at] = x / (width - 1f);       // red grows to the right
          values[at + 1] = y / (height - 1f);  // green grows downwards
          values[at + 2] = i / 2f;             // blue: the image's index
        }
      }
    }
    values[0] = 2f; // clamped to 255
    try (TensorScope scope = TensorScope.root()) {
      BufferedImage grid = Images.grid(scope.ofFloats(new long[] {n, height, width, 3}, values), 2, 2);
      ByteArrayOutputStream png = new ByteArrayOutputStream();
      ImageIO.write(grid, "png", png);
      BufferedImage read = ImageIO.read(new ByteArrayInputStream(png.toByteArray()));
      assertEquals(2 * (width * 2 + 2) + 2, read.getWidth());
      assertEquals(2 * (height * 2 + 2) + 2, read.getHeight());
      assertEquals(0xFF0000, read.getRGB(2, 2) & 0xFFFFFF, "first pixel: red clamped, no green, no blue");
      // image 1 (second column), pixel (y 4, x 6), each pixel 2×2 after a 2-pixel gap
      int left = 2 + (width * 2 + 2);
      assertEquals(0xFFFF80, read.getRGB(left + 6 * 2 + 1, 2 + 4 * 2 + 1) & 0xFFFFFF);
      // image 2 (second row), pixel (y 2, x 3)
      int top = 2 + (height * 2 + 2);
      assertEquals((128 << 16) | (128 << 8) | 255, read.getRGB(2 + 3 * 2, top + 2 * 2) & 0xFFFFFF);
      assertEquals(0, read.getRGB(0, 0) & 0xFFFFFF, "the gap is black");
      assertTrue(read.getColorModel().getNumColorComponents() == 3, "written in colour");
    }
  }

  @Test
  void grid_greyStaysOneChannel_andOtherChannelCountsAreRefused() {
    try (TensorScope scope = TensorScope.root()) {
      BufferedImage grey = Images.grid(scope.ofFloats(new long[] {1, 2, 3, 1}, new float[] {0, 0.5f, 1, 1, 0.5f, 0}), 1, 1);
      assertEquals(BufferedImage.TYPE_BYTE_GRAY, grey.getType());
      assertEquals(255, grey.getRaster().getSample(2 + 2, 2, 0));
      IllegalArgumentException two = assertThrows(IllegalArgumentException.class,
          () -> Images.grid(scope.ofFloats(new long[] {1, 1, 1, 2}, new float[2]), 1, 1));
      assertTrue(two.getMessage().contains("expected images [N, H, W, 1] (grey) or [N, H, W, 3] (RGB)"), two.getMessage());
    }
  }
}
