package io.latentlab.lab;

import com.fasterxml.jackson.databind.JsonNode;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.DataConfig;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.run.DataSource;
import io.latentlab.run.DataSources;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * Looks at a config's data before training on it: size, classes and examples per class, image
 * shape, fingerprint, files skipped, and a PNG grid of preprocessed training images per class.
 * Nothing is trained and no run is written.
 *
 * <p>The grids go to the request's folder, or by default to
 * {@code .cache/data-preview/<experiment>/} in the project, replaced whole each time (a class
 * that is gone leaves no grid behind).
 */
public final class DataTask {
  /** The task's name. */
  public static final String KIND = "data";
  /** Where previews go by default, inside the project. */
  public static final Path PREVIEWS = Path.of(".cache", "data-preview");

  /**
   * Which data to look at.
   *
   * @param config the experiment config file
   * @param overrides {@code key.path=value} overrides, as {@code latentlab run} takes them
   * @param out the folder for the grids, or null for {@code .cache/data-preview/<experiment>/}
   */
  public record Request(Path config, List<String> overrides, Path out) {
    public Request {
      Objects.requireNonNull(config, "config");
      overrides = List.copyOf(Objects.requireNonNull(overrides, "overrides"));
    }
  }

  /**
   * What the data holds.
   *
   * @param config the config file
   * @param data the config's data section, defaults filled
   * @param source the data as Python opened it (location, examples, fingerprint, classes,
   *     counts, shape, skipped)
   * @param grids the PNG grids written, one per class with training images
   * @param json Python's reply as it is
   */
  public record Result(Path config, DataConfig data, DataSource source, List<Path> grids,
      JsonNode json) {
    public Result {
      grids = List.copyOf(grids);
    }

    /** The facts, one per line, as {@code ./latentlab data} prints them. */
    public String text() {
      StringBuilder out = new StringBuilder();
      out.append(String.format(Locale.ROOT, "data:        %s at %s%n", data.dataset(), source.location()));
      out.append(String.format(Locale.ROOT, "examples:    %d (held out for evaluation: %d; skipped: %d)%n",
          source.examples(), data.holdout(), source.skipped()));
      if (source.shape().size() == 3) {
        int channels = source.shape().get(2);
        out.append(String.format(Locale.ROOT, "images:      %d×%d, %d channel%s (%s)%n", source.shape().get(0),
            source.shape().get(1), channels, channels == 1 ? "" : "s", channels == 1 ? "grey" : "RGB"));
      }
      out.append("fingerprint: ").append(source.fingerprint() == null ? "(not reported)"
          : source.fingerprint()).append(System.lineSeparator());
      if (source.classes().isEmpty()) {
        out.append("classes:     none (unlabelled)").append(System.lineSeparator());
      } else {
        out.append("classes:     ").append(source.classes().size())
            .append(data.classes() == null ? "" : " (training on " + data.classes() + ")")
            .append(System.lineSeparator());
        int width = source.classes().stream().mapToInt(String::length).max().orElse(0);
        for (int i = 0; i < source.classes().size(); i++) {
          out.append(String.format(Locale.ROOT, "  %3d  %-" + width + "s  %s%n", i, source.classes().get(i),
              i < source.counts().size() ? source.counts().get(i) : "?"));
        }
      }
      out.append("grids:").append(grids.isEmpty() ? " none (no training images)" : "")
          .append(System.lineSeparator());
      grids.forEach(grid -> out.append("  ").append(grid).append(System.lineSeparator()));
      return out.toString();
    }
  }

  private final Path home;

  /** @param home the project root (relative data paths and the default preview folder) */
  public DataTask(Path home) {
    this.home = home.toAbsolutePath().normalize();
  }

  /**
   * Opens the config's data and writes the grids.
   *
   * @param progress unused for now (opening reports no steps); give {@link ProgressListener#NONE}
   * @throws io.latentlab.config.ConfigException in one line naming the file and key, or the data
   *     file, for a refused config or bad data (exit 2)
   * @throws io.latentlab.bridge.PythonException if Python failed otherwise
   */
  public Result run(Request request, ProgressListener progress) {
    ConfigLoader loader = new ConfigLoader();
    ExperimentConfig config = loader.load(request.config(), request.overrides());
    PythonBridge bridge = PythonBridge.start(home);
    String json = loader.canonicalJson(config);
    try {
      if (request.out() != null) {
        Path out = request.out().toAbsolutePath().normalize();
        Files.createDirectories(out);
        JsonNode reply = DataSources.summary(bridge, home, request.config(), json, out);
        return result(request.config(), config, reply, null, null);
      }
      Path previews = home.resolve(PREVIEWS);
      Files.createDirectories(previews);
      Path target = previews.resolve(config.name());
      Path fresh = Files.createTempDirectory(previews, "." + config.name() + ".tmp-");
      try {
        JsonNode reply = DataSources.summary(bridge, home, request.config(), json, fresh);
        replace(target, fresh);
        return result(request.config(), config, reply, fresh, target);
      } finally {
        deleteTree(fresh);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the data preview", e);
    }
  }

  private static Result result(Path file, ExperimentConfig config, JsonNode reply, Path writtenIn,
      Path movedTo) {
    List<Path> grids = new ArrayList<>();
    reply.path("grids").forEach(grid -> {
      Path path = Path.of(grid.asText());
      grids.add(writtenIn == null ? path : movedTo.resolve(writtenIn.relativize(path)));
    });
    return new Result(file, config.data(), DataSources.fromJson(reply), grids, reply);
  }

  /** Puts the new previews in place of the old ones (moved aside first, then deleted). */
  private static void replace(Path target, Path fresh) throws IOException {
    Path old = null;
    if (Files.exists(target)) {
      old = target.resolveSibling("." + target.getFileName() + ".old-" + System.nanoTime());
      Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
    }
    Files.move(fresh, target, StandardCopyOption.ATOMIC_MOVE);
    if (old != null) {
      deleteTree(old);
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path path : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(path);
      }
    }
  }
}
