package io.latentlab.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.PythonException;
import io.latentlab.run.ModelResults;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine;

/**
 * One result of a model command (denoise, inpaint, anomaly) in its run's directory
 * ({@link ModelResults}): named by the command's resolved settings, read back when it is
 * complete, written once.
 *
 * @param model the run whose model the command applies
 * @param kind the command, also the result folder's name
 * @param id the settings id
 */
record StoredResult(ModelRun model, String kind, String id) {

  /** How a command prints one of its results. */
  interface Printer {
    void print(PrintWriter out, JsonNode result, Path file);
  }

  /**
   * The result of these settings on this run's model.
   *
   * @param settings the resolved settings (what names the result)
   * @param input a file the result reads, whose content names it too, or null
   */
  static StoredResult of(ModelRun model, String kind, JsonNode settings, Path input) throws IOException {
    String canonical = ResultJson.MAPPER.writeValueAsString(ResultJson.MAPPER.readTree(settings.toString()));
    return new StoredResult(model, kind, ModelResults.settingsId(kind, canonical, model.dir(), input));
  }

  /** {@code RUN/<kind>/<id>.json}. */
  Path file() {
    return ModelResults.resultFile(model.dir(), kind, id);
  }

  /** If the result is complete, prints it (asking again never redoes the work) and returns true. */
  boolean printIfCompleted(PrintWriter out, Printer printer) throws IOException {
    if (!ModelResults.completed(model.dir(), kind, id)) {
      return false;
    }
    out.println("already done with these settings; the completed result:");
    printer.print(out, ResultJson.MAPPER.readTree(file().toFile()), file());
    return true;
  }

  /** Records the settings id in {@code record}, writes the pictures then the JSON, and prints it. */
  void write(ObjectNode record, Map<String, byte[]> pictures, PrintWriter out, Printer printer) throws IOException {
    record.put("settings_id", id);
    ModelResults.write(model.dir(), kind, id, pictures, ResultJson.MAPPER.writeValueAsBytes(record));
    printer.print(out, record, file());
  }

  /**
   * The exit code of a failed Python call: a ValueError (a refused input) is printed as it is,
   * after {@code usagePrefix}, and is a usage error; anything else fails the command.
   */
  static int failure(CommandLine cli, PythonException e, String what, String usagePrefix) {
    if (e.pythonType().equals("ValueError")) {
      cli.getErr().println(usagePrefix + e.pythonMessage());
      return Main.EXIT_USAGE;
    }
    cli.getErr().println(what + " failed: " + e.getMessage());
    return Main.EXIT_FAILED;
  }
}
