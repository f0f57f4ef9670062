package io.latentlab.shell;

import io.latentlab.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A run's latent cache, opened with {@code lab.latents(run)}: the VAE posterior's mean and
 * log-variance of every training example, as tensors over a memory mapping of the Arrow IPC
 * file in {@code .cache/latents/} (nothing is copied or read ahead; pages load as they are
 * touched). The tensors belong to the lab's scope; never write into them.
 */
public final class Latents {
  private final Path file;
  private final List<Map<String, Tensor>> batches;

  Latents(Path file, List<Map<String, Tensor>> batches) {
    this.file = file;
    this.batches = List.copyOf(batches);
  }

  /** The cache file. */
  public Path file() {
    return file;
  }

  /** The file's record batches, each column name → tensor {@code [rows, h, w, c]}. */
  public List<Map<String, Tensor>> batches() {
    return batches;
  }

  /** The column names. */
  public List<String> columns() {
    return batches.isEmpty() ? List.of() : List.copyOf(batches.get(0).keySet());
  }

  /** How many examples the file holds. */
  public long examples() {
    return batches.stream().mapToLong(b -> b.values().iterator().next().shape()[0]).sum();
  }

  /** A column of a file with one record batch (else: {@code batches().get(i).get(name)}). */
  public Tensor column(String name) {
    if (batches.size() != 1) {
      throw new IllegalArgumentException(file + " has " + batches.size()
          + " record batches; take a column of one: batches().get(i).get(\"" + name + "\")");
    }
    Tensor tensor = batches.get(0).get(name);
    if (tensor == null) {
      throw new IllegalArgumentException("no column '" + name + "' in " + file + "; its columns: " + columns());
    }
    return tensor;
  }

  /** The posterior means ({@code mean}). */
  public Tensor mean() {
    return column("mean");
  }

  /** The posterior log-variances ({@code log_var}). */
  public Tensor logvar() {
    return column(columns().contains("log_var") ? "log_var" : "logvar");
  }

  /** Each example's class label ({@code label}, int32 {@code [N]}). */
  public Tensor labels() {
    return column("label");
  }

  /** E.g. {@code Latents 1906 examples [mean, log_var, label] in .cache/latents/ab12.arrow}. */
  @Override
  public String toString() {
    return "Latents " + examples() + " examples " + columns() + " in " + file;
  }
}
