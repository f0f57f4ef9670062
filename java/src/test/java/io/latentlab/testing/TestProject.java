package io.latentlab.testing;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** What tests share about the project they run in. */
public final class TestProject {
  private TestProject() {}

  /** The project root: Surefire sets {@code latentlab.home}; the launcher's JMH run does too. */
  public static Path home() {
    return Path.of(System.getProperty("latentlab.home", ".")).toAbsolutePath().normalize();
  }

  /**
   * The packaged command line as a user runs it, with this JVM's {@code java}:
   * {@code java -Dlatentlab.home=<home> -jar <home>/target/latentlab.jar ARGS}.
   */
  public static List<String> cli(String... args) {
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dlatentlab.home=" + home(), "-jar",
        home().resolve("target").resolve("latentlab.jar").toString()));
    command.addAll(List.of(args));
    return command;
  }

  /** The class path of a test program in a JVM of its own: test classes, classes, jars. */
  public static String testClassPath() throws IOException {
    Path target = home().resolve("target");
    try (Stream<Path> jars = Files.list(target.resolve("lib"))) {
      return Stream.concat(Stream.of(target.resolve("test-classes"), target.resolve("classes")),
          jars.sorted()).map(Path::toString).collect(Collectors.joining(File.pathSeparator));
    }
  }

  /**
   * The JAX backend the tests run on, as {@code LATENTLAB_ACCELERATOR} (the launcher's set-up
   * choice, default {@code cpu}) names it: {@code cpu}, {@code gpu} for {@code cuda12},
   * {@code tpu}. Tests of what only the CPU backend gives (zero-copy handoffs of the
   * jax.Array's own memory) read their expectations from it.
   */
  public static String expectedBackend() {
    String accelerator = System.getenv().getOrDefault("LATENTLAB_ACCELERATOR", "cpu");
    return switch (accelerator) {
      case "cuda12" -> "gpu";
      case "", "cpu" -> "cpu";
      default -> accelerator;
    };
  }

  /**
   * The models and data of every Java test that trains: one tiny architecture (so the tests'
   * runs share their compiled programs through the on-disk XLA cache, whatever their seeds) on
   * the first 256 training digits (so no run encodes all 9,000): top-level YAML.
   */
  public static final String TINY_MODELS_AND_DATA = """
      data: {limit: 256}
      model:
        vae: {channels: 4}
        unet: {channels: 8, channel_mult: [1], attention_resolutions: [], num_heads: 1}
      """;

  /**
   * A real experiment small enough for a unit test: tiny models, a few training steps each.
   *
   * @param name the experiment's name
   * @param seed its seed
   * @param sampleSteps DDIM steps
   * @param samples how many samples
   */
  public static String tinyExperiment(String name, long seed, int sampleSteps, int samples) {
    return "name: " + name + "\nseed: " + seed + "\n" + TINY_MODELS_AND_DATA + """
        train:
          vae: {steps: 4, batch_size: 8}
          unet: {steps: 4, batch_size: 8}
        sample: {steps: %d, num_samples: %d, guidance_scale: 2.0}
        """.formatted(sampleSteps, samples);
  }
}
