package io.latentlab.lab;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The VAE latent caches under {@code .cache/latents/}: one Arrow IPC file per (VAE weights,
 * data fingerprint, preprocessing), listed and removed through Python, which writes and uses
 * them and knows which a running trial holds ({@code in_use}). A cache in use is never removed.
 */
public final class LatentCaches {
  /** Where the caches are, inside the project. */
  public static final Path FOLDER = Path.of(".cache", "latents");

  private static final ObjectMapper JSON = ResultJson.MAPPER;

  /**
   * One cache file, as Python's {@code latent_cache_list} reports it.
   *
   * @param name the file's name in {@code .cache/latents/}
   * @param path the file
   * @param bytes its size
   * @param vae the VAE weights' hash
   * @param fingerprint the data's fingerprint
   * @param examples the examples it holds
   * @param inUse whether a running trial is reading or writing it
   */
  public record Entry(String name, Path path, long bytes, String vae, String fingerprint,
      long examples, boolean inUse) {
    static Entry of(JsonNode node) {
      return new Entry(node.path("name").asText(), Path.of(node.path("path").asText()),
          node.path("bytes").asLong(), node.path("vae").asText(""),
          node.path("fingerprint").asText(""), node.path("examples").asLong(),
          node.path("in_use").asBoolean(false));
    }
  }

  /**
   * What a removal did.
   *
   * @param removed the caches deleted
   * @param kept the caches left because a running trial uses them
   */
  public record Removal(List<Entry> removed, List<Entry> kept) {
    public Removal {
      removed = List.copyOf(removed);
      kept = List.copyOf(kept);
    }

    /** Bytes freed. */
    public long bytes() {
      return removed.stream().mapToLong(Entry::bytes).sum();
    }
  }

  private final Path home;

  /** @param home the project root */
  public LatentCaches(Path home) {
    this.home = home.toAbsolutePath().normalize();
  }

  /** The caches, as Python lists them (name order). */
  public List<Entry> list() {
    return entries(call("latent_cache_list", home.toString()));
  }

  /**
   * Removes one cache, or all with {@code name == null}; a cache in use is kept (and, named
   * alone, refused).
   *
   * @throws UsageException if the name is no cache, or names one a running trial uses
   */
  public Removal remove(String name) {
    List<Entry> all = list();
    List<Entry> chosen = name == null ? all
        : all.stream().filter(entry -> entry.name().equals(name)).toList();
    if (name != null && chosen.isEmpty()) {
      throw new UsageException("no latent cache named '" + name + "' in " + FOLDER + "; the caches are: "
          + (all.isEmpty() ? "none" : String.join(", ", all.stream().map(Entry::name).toList()))
          + " ('latentlab cache list' shows them)");
    }
    List<Entry> removed = new ArrayList<>();
    List<Entry> kept = new ArrayList<>();
    for (Entry entry : chosen) {
      if (entry.inUse()) {
        kept.add(entry);
        continue;
      }
      try {
        call("latent_cache_remove", home.toString(), entry.name());
        removed.add(entry);
      } catch (PythonException e) {
        if (!"ValueError".equals(e.pythonType())) { // Python refuses a cache that came into use
          throw e;
        }
        kept.add(entry);
      }
    }
    if (name != null && removed.isEmpty()) {
      throw new UsageException("latent cache '" + name + "' is in use by a running trial; remove it when that "
          + "trial has ended");
    }
    return new Removal(removed, kept);
  }

  /**
   * The latent cache a run trained from, as the run recorded it ({@code latent_cache} in its
   * {@code result.json}, at the top or among its metrics, or in {@code provenance.json}: a path, or an object with {@code path} or
   * {@code name}); a relative path is taken from the project, a bare name from
   * {@code .cache/latents/}.
   *
   * @throws UsageException if the run recorded none, or its file is gone
   */
  public Path ofRun(Path run) {
    JsonNode recorded = null;
    for (String file : List.of("result.json", "provenance.json")) {
      Path path = run.resolve(file);
      if (recorded == null && java.nio.file.Files.isRegularFile(path)) {
        try {
          JsonNode json = JSON.readTree(path.toFile());
          JsonNode node = json.has("latent_cache") ? json.get("latent_cache") : json.path("metrics").get("latent_cache");
          recorded = node == null || node.isNull() ? null : node;
        } catch (IOException e) {
          throw new UncheckedIOException("cannot read " + path, e);
        }
      }
    }
    if (recorded == null) {
      throw new UsageException(run + ": records no latent cache (runs on the digits before latent caches, "
          + "and runs that encode in memory, have none)");
    }
    String text = recorded.isObject() ? recorded.path("path").asText(recorded.path("name").asText(""))
        : recorded.asText();
    Path file = Path.of(text);
    if (!file.isAbsolute()) {
      file = (file.getNameCount() == 1 ? home.resolve(FOLDER) : home).resolve(file);
    }
    if (!java.nio.file.Files.isRegularFile(file)) {
      throw new UsageException(file + ": the run's latent cache is gone ('latentlab cache remove' or a "
          + "cleaned .cache); run the trial again to encode it");
    }
    return file;
  }

  /** A size for people: 1.5 MB, 320 kB, 12 B. */
  public static String size(long bytes) {
    if (bytes < 1000) {
      return bytes + " B";
    }
    String[] units = {"kB", "MB", "GB", "TB"};
    double value = bytes;
    int unit = -1;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit++;
    }
    return String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
  }

  private JsonNode call(String function, Object... args) {
    try {
      return JSON.readTree(PythonBridge.start(home).callForString(function, args));
    } catch (IOException e) {
      throw new UncheckedIOException("Python's " + function + " returned malformed JSON", e);
    }
  }

  private static List<Entry> entries(JsonNode reply) {
    JsonNode list = reply.isArray() ? reply : reply.path("entries");
    List<Entry> out = new ArrayList<>();
    Objects.requireNonNull(list).forEach(node -> out.add(Entry.of(node)));
    out.sort(java.util.Comparator.comparing(Entry::name));
    return out;
  }
}
