package io.latentlab.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.cfg.JsonNodeFeature;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.yaml.snakeyaml.LoaderOptions;

/**
 * Reads experiment configs from YAML, strictly and safely, and writes their canonical forms.
 *
 * <p>Safety: Jackson reads YAML as a stream of events, so no tag can construct an object; aliases,
 * nesting depth and size are bounded. Strictness: unknown or duplicate keys, wrong types (no
 * coercion of "5" into 5 or 5 into "5") and out-of-range values are refused with a one-line
 * {@link ConfigException}. Thread-safe.
 */
public final class ConfigLoader {
  private static final int MAX_ALIASES = 20;
  private static final int MAX_DEPTH = 32;
  private static final int MAX_CODE_POINTS = 1 << 20;

  private final LoaderOptions options;
  private final ObjectMapper yaml;
  private final ObjectMapper canonical;

  /** A loader with LatentLab's strict settings. */
  public ConfigLoader() {
    options = new LoaderOptions();
    options.setMaxAliasesForCollections(MAX_ALIASES);
    options.setNestingDepthLimit(MAX_DEPTH);
    options.setCodePointLimit(MAX_CODE_POINTS);
    options.setAllowDuplicateKeys(false);
    YAMLFactory factory = YAMLFactory.builder()
        .loaderOptions(options)
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .build();
    yaml = strict(YAMLMapper.builder(factory)).build();
    canonical = strict(JsonMapper.builder())
        .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
        .enable(MapperFeature.SORT_PROPERTIES_ALPHABETICALLY)
        .build();
    canonical.configure(JsonNodeFeature.WRITE_PROPERTIES_SORTED, true);
  }

  private static <M extends ObjectMapper, B extends com.fasterxml.jackson.databind.cfg.MapperBuilder<M, B>>
      B strict(B builder) {
    builder.propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
        .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
        .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
        .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
        .withCoercionConfig(LogicalType.Textual, c -> c
            .setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
            .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
            .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail))
        .withCoercionConfigDefaults(c -> c.setCoercion(CoercionInputShape.String, CoercionAction.Fail)
            .setCoercion(CoercionInputShape.EmptyString, CoercionAction.Fail));
    return builder;
  }

  /**
   * Loads and validates a config file.
   *
   * @param file the YAML file
   * @return the config with defaults filled (model sections still unresolved)
   * @throws ConfigException naming the file, position and key for any problem
   */
  public ExperimentConfig load(Path file) {
    return load(file, List.of());
  }

  /**
   * Loads a config file, its {@code extends:} chain, and command-line style overrides.
   *
   * <p>{@code extends: base.yaml} names a file beside this one (or below it); this file's keys
   * replace the base's, section by section. Overrides are {@code key.path=value}, the value
   * read as YAML ({@code 3}, {@code 2.0e-3}, {@code ddim}, {@code [1, 2]}), applied last; the
   * same grammar serves the CLI and JShell.
   *
   * @throws ConfigException naming the file (or the override), position and key
   */
  public ExperimentConfig load(Path file, List<String> overrides) {
    Map<String, String> origins = new HashMap<>();
    ObjectNode tree = loadTree(file, origins, new ArrayList<>());
    for (String override : overrides) {
      applyOverride(tree, override, origins);
    }
    return bind(file.toString(), tree, origins);
  }

  /**
   * Reads another YAML file of the project (a sweep file) as strictly and safely as a config:
   * no tags, bounded aliases, depth and size, no duplicate keys, UTF-8 only.
   *
   * @return the top-level mapping and where each key path was written
   * @throws ConfigException naming the file, position and problem
   */
  public YamlMapping readMapping(Path file) {
    String text = readUtf8(file);
    if (text.isBlank()) {
      throw new ConfigException(file + ": the file is empty");
    }
    Map<String, String> origins = new HashMap<>();
    ObjectNode tree = readTree(file.toString(), text, origins);
    return new YamlMapping(tree, Map.copyOf(origins));
  }

  /**
   * A YAML mapping read by {@link #readMapping}.
   *
   * @param tree the mapping
   * @param origins key path (dotted) → {@code file:line:column} where it was written
   */
  public record YamlMapping(ObjectNode tree, Map<String, String> origins) {
    /** Where a key path was written, or the file's name if unknown. */
    public String where(String keyPath, Path file) {
      return origins.getOrDefault(keyPath, file.toString());
    }
  }

  /**
   * Parses config text; {@code source} names it in error messages.
   *
   * @throws ConfigException naming the source, position and key for any problem
   */
  public ExperimentConfig parse(String source, String text) {
    Map<String, String> origins = new HashMap<>();
    ObjectNode tree = readTree(source, text, origins);
    if (tree.has("extends")) {
      throw new ConfigException(source + ": 'extends' needs a config file, not text");
    }
    return bind(source, tree, origins);
  }

  private static final int MAX_EXTENDS = 8;
  private static final Pattern OVERRIDE = Pattern.compile("([a-z_][a-z0-9_]*(?:\\.[a-z_][a-z0-9_]*)*)=(.*)", Pattern.DOTALL);

  private ObjectNode loadTree(Path file, Map<String, String> origins, List<Path> chain) {
    Path real = file.toAbsolutePath().normalize();
    if (chain.contains(real)) {
      throw new ConfigException(file + ": 'extends' forms a cycle: " + chain + " → " + real);
    }
    if (chain.size() >= MAX_EXTENDS) {
      throw new ConfigException(file + ": 'extends' chain longer than " + MAX_EXTENDS);
    }
    chain.add(real);
    String text = readUtf8(file);
    if (text.isBlank()) {
      throw new ConfigException(file + ": the file is empty; a config needs at least 'name: <experiment>'");
    }
    Map<String, String> own = new HashMap<>();
    ObjectNode tree = readTree(file.toString(), text, own);
    JsonNode parent = tree.remove("extends");
    if (parent == null) {
      origins.putAll(own);
      return tree;
    }
    String where = own.getOrDefault("extends", file.toString());
    if (!parent.isTextual()) {
      throw new ConfigException(where + ": extends: expected a file name, e.g. 'extends: base.yaml'");
    }
    Path dir = real.getParent();
    Path base = dir.resolve(parent.asText()).normalize();
    if (!base.startsWith(dir)) {
      throw new ConfigException(where + ": extends: '" + parent.asText()
          + "' leaves the config's folder; keep base configs beside or below it");
    }
    if (!Files.isRegularFile(base)) {
      throw new ConfigException(where + ": extends: no such file " + base);
    }
    ObjectNode merged = loadTree(base, origins, chain);
    merge(merged, tree);
    origins.putAll(own);
    return merged;
  }

  /** Copies {@code top} onto {@code base}: mappings merge key by key, anything else replaces. */
  private static void merge(ObjectNode base, ObjectNode top) {
    top.fields().forEachRemaining(entry -> {
      JsonNode existing = base.get(entry.getKey());
      if (existing instanceof ObjectNode baseSection && entry.getValue() instanceof ObjectNode topSection) {
        merge(baseSection, topSection);
      } else {
        base.set(entry.getKey(), entry.getValue());
      }
    });
  }

  private void applyOverride(ObjectNode tree, String override, Map<String, String> origins) {
    Matcher m = OVERRIDE.matcher(override);
    String where = "override '" + override + "'";
    if (!m.matches()) {
      throw new ConfigException(where + ": write key.path=value, e.g. train.unet.steps=500");
    }
    String[] keys = m.group(1).split("\\.");
    JsonNode value = readValue(where, m.group(2).isEmpty() ? "''" : m.group(2));
    ObjectNode section = tree;
    StringBuilder path = new StringBuilder();
    for (int i = 0; i < keys.length - 1; i++) {
      path.append(i == 0 ? "" : ".").append(keys[i]);
      JsonNode next = section.get(keys[i]);
      if (next == null) {
        next = section.putObject(keys[i]);
      } else if (!(next instanceof ObjectNode)) {
        throw new ConfigException(where + ": " + path + " is a value, not a section");
      }
      section = (ObjectNode) next;
    }
    section.set(keys[keys.length - 1], value);
    origins.put(m.group(1), where);
  }

  private JsonNode readValue(String source, String text) {
    return readNode(source, text, new HashMap<>());
  }

  private ObjectNode readTree(String source, String text, Map<String, String> origins) {
    JsonNode node = readNode(source, text, origins);
    if (!(node instanceof ObjectNode object)) {
      throw new ConfigException(source + ": the file holds no mapping; a config needs at least 'name: <experiment>'");
    }
    return object;
  }

  private JsonNode readNode(String source, String text, Map<String, String> origins) {
    Map<String, String> positions = YamlGuard.check(source, text, options);
    positions.forEach((path, position) -> origins.put(path, source + ":" + position));
    try {
      JsonNode node = yaml.readTree(text);
      return node == null ? yaml.nullNode() : node;
    } catch (JsonProcessingException e) {
      throw new ConfigException(describe(source, e, origins));
    } catch (IllegalArgumentException e) { // YAML limits (aliases, depth, size) from SnakeYAML
      throw new ConfigException(source + ": " + firstLine(e.getMessage()));
    } catch (RuntimeException e) {
      if (e.getClass().getName().startsWith("org.yaml.snakeyaml")) {
        throw new ConfigException(source + ": YAML refused: " + firstLine(e.getMessage()));
      }
      throw e;
    }
  }

  private ExperimentConfig bind(String source, ObjectNode tree, Map<String, String> origins) {
    ConfigFormat.migrate(tree, source);
    try {
      return yaml.treeToValue(tree, ExperimentConfig.class);
    } catch (JsonProcessingException e) {
      throw new ConfigException(describe(source, e, origins));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(source + ": " + firstLine(e.getMessage()));
    }
  }

  /** The canonical JSON of a config: sorted keys, no insignificant whitespace. */
  public String canonicalJson(ExperimentConfig config) {
    try {
      return canonical.writeValueAsString(config);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise a config", e);
    }
  }

  /**
   * What a trial id hashes: the canonical JSON without the keys that do not change results
   * (the tracking section; the execution section's devices and mesh, its precision only where
   * it is not the default, see {@link ExecutionConfig#identity()}).
   */
  public String identityJson(ExperimentConfig config) {
    try {
      ObjectNode tree = canonical.valueToTree(config);
      tree.remove(ConfigFormat.KEY); // describes the file, not the experiment
      tree.remove("execution");
      tree.remove("tracking"); // where a run is watched changes none of its results
      Map<String, Object> identity = config.execution().identity();
      if (!identity.isEmpty()) {
        tree.set("execution", canonical.valueToTree(identity));
      }
      return canonical.writeValueAsString(canonical.treeToValue(tree, Object.class));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise a config", e);
    }
  }

  /** Parses canonical JSON back into a config (e.g. after Python resolved its sections). */
  public ExperimentConfig fromJson(String json) {
    try {
      ObjectNode tree = (ObjectNode) canonical.readTree(json);
      ConfigFormat.migrate(tree, "resolved config");
      return canonical.treeToValue(tree, ExperimentConfig.class);
    } catch (JsonProcessingException e) {
      throw new ConfigException(describe("resolved config", e, java.util.Map.of()));
    }
  }

  /** The config as YAML with sorted keys, for a run directory's {@code config.yaml}. */
  public String toYaml(ExperimentConfig config) {
    try {
      return yaml.writeValueAsString(canonical.readTree(canonicalJson(config)));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialise a config", e);
    }
  }

  private static String readUtf8(Path file) {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new ConfigException(file + ": no such file; check the path (configs live in experiments/)");
    } catch (IOException e) {
      throw new ConfigException(file + ": cannot read: " + e.getMessage());
    }
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      throw new ConfigException(file + ": not UTF-8 text; save the config as UTF-8 YAML");
    }
  }

  /** @param origins key path → where it was written ({@code file:line:column} or an override) */
  private static String describe(String source, JsonProcessingException e, Map<String, String> origins) {
    String where = source + position(e.getLocation());
    if (e instanceof JsonMappingException mapping) {
      String path = keyPath(mapping);
      if (origins.containsKey(path)) { // where the key starts, not where the parser stopped
        where = origins.get(path);
      }
      if (e instanceof UnrecognizedPropertyException unknown) {
        String allowed = unknown.getKnownPropertyIds().stream()
            .map(Object::toString)
            .collect(Collectors.toCollection(TreeSet::new))
            .stream()
            .collect(Collectors.joining(", "));
        return String.format("%s: %s: unknown key; allowed: %s", where, path, allowed);
      }
      if (e instanceof ValueInstantiationException && e.getCause() instanceof IllegalArgumentException bad) {
        String key = bad.getMessage().split(":", 2)[0];
        return origins.getOrDefault(key, where) + ": " + bad.getMessage();
      }
      if (e instanceof MismatchedInputException mismatch && mismatch.getTargetType() != null) {
        return String.format("%s: %s: expected %s", where, path, describeType(mismatch.getTargetType()));
      }
      return String.format("%s: %s: %s", where, path, firstLine(e.getOriginalMessage()));
    }
    String key = keyOnLine(origins, where);
    return where + ": " + (key == null ? "" : key + ": ") + "YAML syntax error: "
        + firstLine(e.getOriginalMessage());
  }

  /** The last key written on the line of a {@code file:line:column} position, if any. */
  private static String keyOnLine(Map<String, String> origins, String where) {
    Matcher at = Pattern.compile(":(\\d+):(\\d+)$").matcher(where);
    if (!at.find()) {
      return null;
    }
    String line = where.substring(0, at.start()) + ":" + at.group(1) + ":";
    int column = Integer.parseInt(at.group(2));
    String best = null;
    int bestColumn = -1;
    for (Map.Entry<String, String> origin : origins.entrySet()) {
      String value = origin.getValue();
      if (value.startsWith(line)) {
        int keyColumn = Integer.parseInt(value.substring(line.length()));
        if (keyColumn <= column && keyColumn > bestColumn) {
          best = origin.getKey();
          bestColumn = keyColumn;
        }
      }
    }
    return best;
  }

  private static String keyPath(JsonMappingException e) {
    String path = e.getPath().stream()
        .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
        .collect(Collectors.joining("."));
    return path.isEmpty() ? "(top level)" : path.replace(".[", "[");
  }

  private static String describeType(Class<?> type) {
    if (type == Integer.class || type == Long.class || type == int.class || type == long.class) {
      return "an integer";
    }
    if (type == Double.class || type == double.class) {
      return "a number";
    }
    if (type == String.class) {
      return "a string";
    }
    if (type == Boolean.class || type == boolean.class) {
      return "true or false";
    }
    return "a mapping of keys (" + type.getSimpleName() + ")";
  }

  private static String position(JsonLocation location) {
    if (location == null || location.getLineNr() < 1) {
      return "";
    }
    return ":" + location.getLineNr() + ":" + location.getColumnNr();
  }

  private static String firstLine(String message) {
    if (message == null) {
      return "invalid";
    }
    String line = message.strip().lines().findFirst().orElse("invalid");
    return line.length() > 200 ? line.substring(0, 200) + "…" : line;
  }

}
