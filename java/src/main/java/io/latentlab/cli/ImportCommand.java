package io.latentlab.cli;

import io.latentlab.bridge.ProgressListener;
import io.latentlab.bridge.PythonException;
import io.latentlab.lab.ImportTask;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code latentlab import PATH}: Stable Diffusion weights from local files into models/. */
@Command(
    name = "import",
    mixinStandardHelpOptions = true,
    header = "Imports Stable Diffusion weights from local safetensors files into models/.",
    description = {
        "PATH is a diffusers folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, "
            + "scheduler/; sharded *.safetensors.index.json included), a single-file original "
            + "checkpoint in .safetensors (LDM key names; --config names a diffusers folder with "
            + "its architecture), or one component's folder. Every tensor is mapped to the Flax "
            + "parameters; a missing, unexpected or wrongly shaped tensor is refused with the "
            + "list of keys. The scheduler's config becomes the model's diffusion settings.",
        "Pickle checkpoints (.ckpt, .bin, .pt) are refused: loading one can run code. Convert "
            + "them to .safetensors first. Nothing is downloaded: PATH is local.",
        "The model is written to models/<NAME>/ (weights, sd_model.json with its content hash, "
            + "source and licence, the tokenizer). An import is never overwritten."},
    footer = {"", "Examples:",
        "  ./latentlab import /data/stable-diffusion-v1-5 --name sd15",
        "  ./latentlab import /data/v1-5-pruned.safetensors --config /data/stable-diffusion-v1-5",
        "  ./latentlab import /data/stable-diffusion-v1-5/unet --name sd15-unet"})
final class ImportCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "PATH", description = "the folder or .safetensors file")
  Path source;

  @Option(names = "--name", paramLabel = "NAME",
      description = "the model's name under models/ (default: PATH's file name)")
  String name;

  @Option(names = "--config", paramLabel = "FOLDER",
      description = "for a single file: the diffusers folder whose configs describe it")
  Path config;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    CommandLine cli = spec.commandLine();
    ImportTask.Result result;
    try {
      result = new ImportTask(Main.home()).run(new ImportTask.Request(source, name, config),
          ProgressListener.NONE);
    } catch (PythonException e) {
      return Main.failed(cli, "importing " + source, e);
    }
    cli.getOut().print(result.text());
    cli.getOut().flush();
    return 0;
  }
}
