package io.latentlab.config;

import java.io.StringReader;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.events.AliasEvent;
import org.yaml.snakeyaml.events.CollectionStartEvent;
import org.yaml.snakeyaml.events.Event;
import org.yaml.snakeyaml.events.ScalarEvent;
import org.yaml.snakeyaml.parser.ParserImpl;
import org.yaml.snakeyaml.reader.StreamReader;

/**
 * Refuses YAML features a config never needs before any value is read: explicit tags (which in
 * other loaders build objects, e.g. {@code !!java.net.URL} or {@code !!python/object}), more than
 * a few aliases, and deep nesting. Works on the parser's event stream, so nothing is constructed.
 * On the way it records where each key starts, so errors found later can point at it.
 */
final class YamlGuard {
  private YamlGuard() {}

  /**
   * @return the 1-based "line:column" of every key, by dotted path ({@code train.unet.steps})
   * @throws ConfigException naming the source, line and column of the first refused construct
   */
  static Map<String, String> check(String source, String text, LoaderOptions options) {
    ParserImpl parser = new ParserImpl(new StreamReader(new StringReader(text)), options);
    Map<String, String> keyPositions = new HashMap<>();
    Deque<Frame> frames = new ArrayDeque<>();
    int aliases = 0;
    int depth = 0;
    try {
      while (parser.peekEvent() != null) {
        Event event = parser.getEvent();
        track(event, frames, keyPositions);
        String tag = null;
        if (event instanceof ScalarEvent scalar && !scalar.getImplicit().canOmitTagInPlainScalar()
            && !scalar.getImplicit().canOmitTagInNonPlainScalar()) {
          tag = scalar.getTag();
        } else if (event instanceof CollectionStartEvent collection && !collection.getImplicit()) {
          tag = collection.getTag();
        }
        if (tag != null) {
          throw refused(source, event.getStartMark(), "YAML tag '" + tag
              + "' is not allowed; configs hold plain values only (remove the tag)");
        }
        if (event instanceof AliasEvent && ++aliases > options.getMaxAliasesForCollections()) {
          throw refused(source, event.getStartMark(), "more than "
              + options.getMaxAliasesForCollections() + " YAML aliases; write the values out");
        }
        if (event instanceof CollectionStartEvent && ++depth > options.getNestingDepthLimit()) {
          throw refused(source, event.getStartMark(), "nesting deeper than "
              + options.getNestingDepthLimit() + " levels");
        }
        if (event.is(Event.ID.MappingEnd) || event.is(Event.ID.SequenceEnd)) {
          depth--;
        }
      }
      return keyPositions;
    } catch (YAMLException e) {
      String problem = e.getMessage() == null ? "invalid YAML" : e.getMessage().strip().lines().findFirst().orElse("");
      throw new ConfigException(source + ": YAML syntax error: " + problem);
    }
  }

  /** One open mapping or sequence while walking the events. */
  private static final class Frame {
    final String path;
    final boolean mapping;
    boolean expectingKey = true;
    String key;
    int index;

    Frame(String path, boolean mapping) {
      this.path = path;
      this.mapping = mapping;
    }

    String childPath() {
      String child = mapping ? key : "[" + index + "]";
      return path.isEmpty() ? child : (mapping ? path + "." + child : path + child);
    }

    void valueDone() {
      if (mapping) {
        expectingKey = true;
      } else {
        index++;
      }
    }
  }

  private static void track(Event event, Deque<Frame> frames, Map<String, String> keyPositions) {
    Frame top = frames.peek();
    if (event instanceof ScalarEvent scalar && top != null && top.mapping && top.expectingKey) {
      top.key = scalar.getValue();
      top.expectingKey = false;
      Mark mark = event.getStartMark();
      keyPositions.putIfAbsent(top.childPath(), (mark.getLine() + 1) + ":" + (mark.getColumn() + 1));
    } else if (event instanceof ScalarEvent || event instanceof AliasEvent) {
      if (top != null) {
        top.valueDone();
      }
    } else if (event instanceof CollectionStartEvent) {
      String path = top == null ? "" : top.childPath();
      frames.push(new Frame(path, event.is(Event.ID.MappingStart)));
    } else if (event.is(Event.ID.MappingEnd) || event.is(Event.ID.SequenceEnd)) {
      frames.pop();
      if (frames.peek() != null) {
        frames.peek().valueDone();
      }
    }
  }

  private static ConfigException refused(String source, Mark mark, String message) {
    return new ConfigException(String.format("%s:%d:%d: %s", source, mark.getLine() + 1,
        mark.getColumn() + 1, message));
  }
}
