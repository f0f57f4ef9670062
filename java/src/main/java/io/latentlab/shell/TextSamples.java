package io.latentlab.shell;

import com.fasterxml.jackson.databind.JsonNode;
import io.latentlab.lab.SampleTask;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;

/**
 * Pictures sampled from prompts by {@code lab.model(name).sample(...)}: where they are, what
 * produced them ({@link #json}: the model's weights hash and the resolved request) and the grid
 * ({@link #picture}, which a notebook shows inline).
 */
public final class TextSamples {
  private final SampleTask.Result result;

  TextSamples(SampleTask.Result result) {
    this.result = result;
  }

  /** The lab's typed result. */
  public SampleTask.Result result() {
    return result;
  }

  /** The folder, {@code <runs>/samples/<model>/<request id>/}. */
  public Path folder() {
    return result.folder();
  }

  /** One PNG per image, each prompt's together, in the order of the prompts. */
  public List<Path> images() {
    return result.images();
  }

  /** {@code result.json}: the model, its weights hash, the resolved request, each image's prompt. */
  public JsonNode json() {
    return result.json();
  }

  /** True if the same request had completed before and was read back. */
  public boolean completedEarlier() {
    return result.completedEarlier();
  }

  /** All of them in one picture ({@code images.png}). */
  public BufferedImage picture() {
    return Display.png(result.grid());
  }

  /** One image, by its index in {@link #images}. */
  public BufferedImage picture(int index) {
    return Display.png(result.images().get(index));
  }

  /** E.g. {@code 2 images of sd15 in runs/samples/sd15/3fa1c09d2b7e}. */
  @Override
  public String toString() {
    int n = result.images().size();
    return n + (n == 1 ? " image of " : " images of ") + result.model() + " in " + result.folder();
  }
}
