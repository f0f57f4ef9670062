package io.latentlab.shell;

import io.latentlab.tensor.Images;
import io.latentlab.tensor.Tensor;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * Pictures for notebooks and JShell: each method returns a {@link BufferedImage}, which a Java
 * notebook kernel shows inline as {@code image/png} when it is a cell's value (JJava and
 * rapaio's kernel both render {@code java.awt.Image} so). No kernel API is called here, so the same
 * code runs in JShell, where the image can be written with {@link ImageIO}.
 *
 * <p>All display code lives here; the {@code lab} facade's {@code show} methods delegate to it.
 * Stateless and thread-safe.
 */
public final class Display {
  /** Images per row of a grid, and each pixel's size in screen pixels. */
  private static final int COLUMNS = 8;
  private static final int ZOOM = 2;
  /** Black rows between the rows of a strip. */
  private static final int ROW_GAP = 4;

  private Display() {}

  /**
   * A PNG file (a run's {@code samples.png}, a sweep's plot).
   *
   * @throws IllegalArgumentException in one line if it is missing or not an image
   */
  public static BufferedImage png(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("no image at " + file);
    }
    try {
      BufferedImage image = ImageIO.read(file.toFile());
      if (image == null) {
        throw new IllegalArgumentException(file + " is not an image ImageIO can read");
      }
      return image;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  /**
   * Images as a grid, 8 to a row, each pixel 2×2.
   *
   * @param images {@code [N, H, W, 1]} (grey) or {@code [N, H, W, 3]} (RGB) in [0, 1], any
   *     height and width (a sampler's {@code decode()})
   * @throws IllegalArgumentException if the tensor is not images
   */
  public static BufferedImage grid(Tensor images) {
    return Images.grid(images, (int) Math.min(COLUMNS, images.shape()[0]), ZOOM);
  }

  /**
   * Several batches as one picture, a row of images per batch, top to bottom: e.g. the decoded
   * x0 prediction after each sampling step, to watch it sharpen.
   *
   * @param batches each {@code [N, H, W, C]} in [0, 1] (C 1 or 3), all of the same shape
   * @throws IllegalArgumentException if there are none or their shapes differ
   */
  public static BufferedImage rows(List<Tensor> batches) {
    if (batches.isEmpty()) {
      throw new IllegalArgumentException("no batches to show");
    }
    long[] first = batches.get(0).shape();
    List<BufferedImage> pictures = new ArrayList<>();
    for (Tensor batch : batches) {
      if (!java.util.Arrays.equals(first, batch.shape())) {
        throw new IllegalArgumentException("every batch must have shape "
            + java.util.Arrays.toString(first) + ", got " + java.util.Arrays.toString(batch.shape()));
      }
      pictures.add(Images.grid(batch, (int) first[0], ZOOM));
    }
    return stack(pictures);
  }

  /**
   * True when two pictures have the same size and every pixel the same value: e.g. a stepwise
   * sampler's final {@link #grid} against the run's {@code samples.png}, drawn the same way.
   */
  public static boolean samePixels(BufferedImage first, BufferedImage second) {
    if (first.getWidth() != second.getWidth() || first.getHeight() != second.getHeight()) {
      return false;
    }
    for (int y = 0; y < first.getHeight(); y++) {
      for (int x = 0; x < first.getWidth(); x++) {
        if (first.getRGB(x, y) != second.getRGB(x, y)) {
          return false;
        }
      }
    }
    return true;
  }

  /** Pictures one above the other, with a black gap; in colour if any of them is. */
  public static BufferedImage stack(List<BufferedImage> pictures) {
    boolean grey = pictures.stream().allMatch(p -> p.getType() == BufferedImage.TYPE_BYTE_GRAY);
    int width = pictures.stream().mapToInt(BufferedImage::getWidth).max().orElse(1);
    int height = pictures.stream().mapToInt(BufferedImage::getHeight).sum()
        + ROW_GAP * (pictures.size() - 1);
    BufferedImage strip = new BufferedImage(width, height,
        grey ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
    Graphics2D graphics = strip.createGraphics();
    try {
      int top = 0;
      for (BufferedImage picture : pictures) {
        graphics.drawImage(picture, 0, top, null);
        top += picture.getHeight() + ROW_GAP;
      }
    } finally {
      graphics.dispose();
    }
    return strip;
  }
}
