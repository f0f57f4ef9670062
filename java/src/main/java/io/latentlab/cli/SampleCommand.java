package io.latentlab.cli;

import io.latentlab.bridge.PythonException;
import io.latentlab.lab.ProgressBars;
import io.latentlab.lab.SampleTask;
import io.latentlab.lab.SamplingOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code latentlab sample MODEL --prompt TEXT}: text to image with an imported Stable Diffusion model. */
@Command(
    name = "sample",
    mixinStandardHelpOptions = true,
    header = "Samples images from text prompts with an imported Stable Diffusion model.",
    description = {
        "MODEL is a model imported with ./latentlab import: its name under models/, or its "
            + "folder inside the project. Each --prompt gets -n images, guided by "
            + "classifier-free guidance away from --negative-prompt (empty: the unconditional "
            + "embedding; an empty --prompt samples unconditionally). A prompt longer than the "
            + "text encoder reads is cut, with a warning saying how many tokens were cut.",
        "Every sampler and spacing of LatentLab works; the spacing defaults to the model's own "
            + "scheduler (its timestep spacing and offset). --size must be a multiple of the "
            + "model's downsampling (the VAE's factor times the U-Net's; 64 for Stable Diffusion "
            + "1.x and 2.x) and defaults to the model's own. Options are checked before the "
            + "model loads.",
        "The images go to runs/samples/MODEL/ID/ (ID: 12 hex digits of the weights' hash and "
            + "the resolved options) or to --out: images.png (all of them), image-000.png... "
            + "and result.json (model, weights hash, options, prompts, timings). A completed "
            + "folder is never overwritten: the same request again prints where it is. On CPU "
            + "the same request gives the same bytes."},
    footer = {"", "Examples:",
        "  ./latentlab sample sd15 --prompt \"a watercolour fox in the snow\"",
        "  ./latentlab sample sd15 --prompt \"a red cat\" --prompt \"a blue dog\" -n 4 --seed 7",
        "  ./latentlab sample sd15 --prompt \"a castle\" --negative-prompt \"blurry\" --guidance 5 \\",
        "      --sampler dpmpp_2m --steps 25 --spacing karras --size 768 --out runs/castle",
        "  ./latentlab sample sd15 --prompt \"the same street in winter\" --init-image street.jpg --strength 0.6",
        "  ./latentlab sample sd15 --prompt \"a red door\" --init-image house.png --mask door-mask.png"})
final class SampleCommand implements Callable<Integer>, SamplingMixin.Command {
  @Parameters(index = "0", paramLabel = "MODEL", description = "an imported model's name or folder")
  String model;

  @Option(names = "--prompt", paramLabel = "TEXT", required = true,
      description = "a prompt; repeat for several (each gets -n images)")
  List<String> prompts = new ArrayList<>();

  @Option(names = "--negative-prompt", paramLabel = "TEXT", defaultValue = "",
      description = "what guidance steers away from (default: empty, the unconditional embedding)")
  String negativePrompt;

  @Option(names = "--size", paramLabel = "PX",
      description = "width and height in pixels (default: the model's own)")
  Integer size;

  @Option(names = {"-n", "--images"}, paramLabel = "N", defaultValue = "" + SampleTask.DEFAULT_IMAGES,
      description = "images per prompt (default ${DEFAULT-VALUE})")
  int images;

  @Option(names = "--init-image", paramLabel = "FILE",
      description = "image to image (SDEdit): start from this picture, cropped to --size, instead of pure noise")
  Path initImage;

  @Option(names = "--strength", paramLabel = "S",
      description = "with --init-image: the share of the steps sampled, in (0, 1]; near 0 keeps the picture "
          + "(default 0.8; 1.0 with --mask)")
  Double strength;

  @Option(names = "--mask", paramLabel = "FILE",
      description = "with --init-image: inpaint; the mask's white pixels are sampled anew, its black ones kept")
  Path mask;

  @Option(names = "--out", paramLabel = "DIR",
      description = "the folder to write, inside the project or the runs folder (default: runs/samples/MODEL/ID)")
  Path out;

  @CommandLine.Mixin
  SamplingMixin sampling = new SamplingMixin();

  @CommandLine.Mixin
  RunsDirOption runs = new RunsDirOption();

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Set<SamplingOptions.Option> samplingOptions() {
    return SampleTask.OPTIONS;
  }

  @Override
  public SamplingOptions samplingDefaults() {
    return SampleTask.DEFAULTS;
  }

  @Override
  public String unsetDefault(SamplingOptions.Option option) {
    return option == SamplingOptions.Option.SPACING ? "default: the model's scheduler's" : "default: the sampler's own";
  }

  @Override
  public Integer call() {
    CommandLine cli = spec.commandLine();
    SampleTask.Request request = new SampleTask.Request(model, prompts, negativePrompt, size, images,
        sampling.options(), out, initImage, strength, mask);
    SampleTask.Result result;
    try (ProgressBars bars = new ProgressBars()) {
      result = new SampleTask(Main.home(), runs.resolve()).run(request, bars);
    } catch (PythonException e) {
      return Main.failed(cli, "sampling " + model, e);
    }
    for (String warning : result.warnings()) {
      cli.getErr().println("warning: " + warning);
    }
    cli.getErr().flush();
    cli.getOut().print(result.text());
    cli.getOut().flush();
    return 0;
  }
}
