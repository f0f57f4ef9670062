package io.latentlab.tensor;

import java.awt.image.BufferedImage;
import java.awt.image.WritableRaster;

/** Pictures of image tensors. */
public final class Images {
  private static final int GAP = 2;

  private Images() {}

  /**
   * Lays out a batch of grey-scale images as a grid, row by row, with a 2-pixel black gap.
   *
   * @param images shape {@code [N, H, W, 1]}, values in [0, 1] (clamped)
   * @param columns images per row
   * @param zoom each pixel becomes a zoom×zoom block
   * @return an 8-bit grey image
   * @throws IllegalArgumentException if the tensor is not {@code [N, H, W, 1]}
   */
  public static BufferedImage grid(Tensor images, int columns, int zoom) {
    long[] shape = images.shape();
    if (shape.length != 4 || shape[3] != 1) {
      throw new IllegalArgumentException(
          "expected grey-scale images [N, H, W, 1], got " + java.util.Arrays.toString(shape));
    }
    if (columns < 1 || zoom < 1) {
      throw new IllegalArgumentException("columns and zoom must be >= 1");
    }
    int count = (int) shape[0];
    int height = (int) shape[1];
    int width = (int) shape[2];
    int rows = (count + columns - 1) / columns;
    int cellW = width * zoom + GAP;
    int cellH = height * zoom + GAP;
    BufferedImage picture = new BufferedImage(
        columns * cellW + GAP, rows * cellH + GAP, BufferedImage.TYPE_BYTE_GRAY);
    WritableRaster raster = picture.getRaster();
    float[] values = images.toFloatArray();
    for (int n = 0; n < count; n++) {
      int left = GAP + (n % columns) * cellW;
      int top = GAP + (n / columns) * cellH;
      for (int y = 0; y < height * zoom; y++) {
        for (int x = 0; x < width * zoom; x++) {
          float v = values[(n * height + y / zoom) * width + x / zoom];
          int grey = Math.round(Math.max(0f, Math.min(1f, v)) * 255f);
          raster.setSample(left + x, top + y, 0, grey);
        }
      }
    }
    return picture;
  }
}
