package io.latentlab.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
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
import java.util.TreeSet;
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
    String text = readUtf8(file);
    if (text.isBlank()) {
      throw new ConfigException(file + ": the file is empty; a config needs at least 'name: <experiment>'");
    }
    return parse(file.toString(), text);
  }

  /**
   * Parses config text; {@code source} names it in error messages.
   *
   * @throws ConfigException naming the source, position and key for any problem
   */
  public ExperimentConfig parse(String source, String text) {
    java.util.Map<String, String> keyPositions = YamlGuard.check(source, text, options);
    try {
      ExperimentConfig config = yaml.readValue(text, ExperimentConfig.class);
      if (config == null) {
        throw new ConfigException(source + ": the file holds no mapping; a config needs at least 'name: <experiment>'");
      }
      return config;
    } catch (JsonProcessingException e) {
      throw new ConfigException(describe(source, e, keyPositions));
    } catch (IllegalArgumentException e) { // YAML limits (aliases, depth, size) from SnakeYAML
      throw new ConfigException(source + ": " + firstLine(e.getMessage()));
    } catch (RuntimeException e) {
      if (e.getClass().getName().startsWith("org.yaml.snakeyaml")) {
        throw new ConfigException(source + ": YAML refused: " + firstLine(e.getMessage()));
      }
      throw e;
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

  /** Parses canonical JSON back into a config (e.g. after Python resolved its sections). */
  public ExperimentConfig fromJson(String json) {
    try {
      return canonical.readValue(json, ExperimentConfig.class);
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

  private static String describe(String source, JsonProcessingException e,
      java.util.Map<String, String> keyPositions) {
    String where = source + position(e.getLocation());
    if (e instanceof JsonMappingException mapping) {
      String path = keyPath(mapping);
      if (keyPositions.containsKey(path)) { // where the key starts, not where the parser stopped
        where = source + ":" + keyPositions.get(path);
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
        String at = keyPositions.containsKey(key) ? source + ":" + keyPositions.get(key) : where;
        return at + ": " + bad.getMessage();
      }
      if (e instanceof MismatchedInputException mismatch && mismatch.getTargetType() != null) {
        return String.format("%s: %s: expected %s", where, path, describeType(mismatch.getTargetType()));
      }
      return String.format("%s: %s: %s", where, path, firstLine(e.getOriginalMessage()));
    }
    return where + ": YAML syntax error: " + firstLine(e.getOriginalMessage());
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
