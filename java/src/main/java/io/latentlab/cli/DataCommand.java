package io.latentlab.cli;

import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonException;
import io.latentlab.lab.DataTask;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code latentlab data CONFIG}: what a config's data holds, and a grid of it per class. */
@Command(
    name = "data",
    mixinStandardHelpOptions = true,
    header = "Shows a config's data before training: size, classes, counts, resolution, fingerprint.",
    description = {
        "Opens the data set of CONFIG's data section as training would (same preprocessing: "
            + "resolution, channels, resize, background) and prints its size, its classes and "
            + "the examples of each, the image shape, the data's fingerprint (what provenance "
            + "records; it changes when a file is added, removed or changed) and how many files "
            + "data.on_error: skip left out. It writes a PNG grid of up to 64 preprocessed "
            + "training images per class (one grid for unlabelled data).",
        "Nothing is trained and no run is written. Bad data is refused as training would "
            + "refuse it: one line naming the file or key, exit 2."},
    footer = {"", "Examples:",
        "  ./latentlab data experiments/emoji.yaml",
        "  ./latentlab data my-pets.yaml data.resolution=64 --out /tmp/pets-preview",
        "  ./latentlab data experiments/quickstart.yaml data.classes=[3,8]",
        "", "Grids go to .cache/data-preview/<experiment>/ unless --out says where; "
            + "that folder is replaced whole each time."})
final class DataCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "CONFIG", description = "the experiment's YAML file")
  Path config;

  @Parameters(index = "1..*", paramLabel = "OVERRIDE",
      description = "key.path=value, applied after the file, e.g. data.resolution=64")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--out", paramLabel = "DIR",
      description = "write the grids in DIR (created if needed) instead of .cache/data-preview/<experiment>/")
  Path out;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    CommandLine cli = spec.commandLine();
    DataTask.Result result;
    try {
      result = new DataTask(Main.home()).run(new DataTask.Request(config, overrides, out),
          ProgressListener.NONE);
    } catch (PythonException e) {
      return Main.failed(cli, "reading the data", e);
    }
    cli.getOut().print(result.text());
    cli.getOut().flush();
    return 0;
  }
}
