package io.latentlab.tensor;

import java.awt.image.BufferedImage;
import java.awt.image.WritableRaster;

/** Pictures of image tensors. */
public final class Images {
  private static final int GAP = 2;
  /** The largest side of a grid: a picture a browser still opens. */
  private static final int MAX_SIDE = 16_384;

  private Images() {}

  /**
   * Lays out a batch of images as a grid, row by row, with a 2-pixel black gap; any height and
   * width, grey or colour.
   *
   * @param images shape {@code [N, H, W, 1]} (grey) or {@code [N, H, W, 3]} (RGB), values in
   *     [0, 1] (clamped)
   * @param columns images per row
   * @param zoom each pixel becomes a zoom×zoom block
   * @return an 8-bit grey image for one channel, an RGB image for three
   * @throws IllegalArgumentException if the tensor is not {@code [N, H, W, 1 or 3]}
   */
  public static BufferedImage grid(Tensor images, int columns, int zoom) {
    long[] shape = images.shape();
    if (shape.length != 4 || (shape[3] != 1 && shape[3] != 3)) {
      throw new IllegalArgumentException("expected images [N, H, W, 1] (grey) or [N, H, W, 3] "
          + "(RGB), got " + java.util.Arrays.toString(shape));
    }
    if (columns < 1 || zoom < 1) {
      throw new IllegalArgumentException("columns and zoom must be >= 1");
    }
    int count = (int) shape[0];
    int height = (int) shape[1];
    int width = (int) shape[2];
    int channels = (int) shape[3];
    int rows = (count + columns - 1) / columns;
    int cellW = width * zoom + GAP;
    int cellH = height * zoom + GAP;
    long side = Math.max((long) columns * cellW + GAP, (long) rows * cellH + GAP);
    if (side > MAX_SIDE) {
      throw new IllegalArgumentException("a grid of " + count + " images of " + height + "×" + width
          + " at zoom " + zoom + " would be " + side + " pixels wide; show fewer or zoom less");
    }
    BufferedImage picture = new BufferedImage(columns * cellW + GAP, rows * cellH + GAP,
        channels == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
    WritableRaster raster = picture.getRaster();
    float[] values = images.toFloatArray();
    for (int n = 0; n < count; n++) {
      int left = GAP + (n % columns) * cellW;
      int top = GAP + (n / columns) * cellH;
      for (int y = 0; y < height * zoom; y++) {
        for (int x = 0; x < width * zoom; x++) {
          int pixel = ((n * height + y / zoom) * width + x / zoom) * channels;
          for (int c = 0; c < channels; c++) { // TYPE_INT_RGB's bands are R, G, B
            raster.setSample(left + x, top + y, c, byteOf(values[pixel + c]));
          }
        }
      }
    }
    return picture;
  }

  private static int byteOf(float v) {
    return Math.round(Math.max(0f, Math.min(1f, v)) * 255f);
  }
}
