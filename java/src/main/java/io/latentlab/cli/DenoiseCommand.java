package io.latentlab.cli;

import io.latentlab.bridge.PythonException;
import io.latentlab.lab.DenoiseTask;
import io.latentlab.lab.ModelRun;
import io.latentlab.lab.ProgressBars;
import io.latentlab.lab.SamplingOptions;
import io.latentlab.lab.TaskResult;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code latentlab denoise RUN --noise-sigma S}: SDEdit denoising beside classical denoisers. */
@Command(
    name = "denoise",
    mixinStandardHelpOptions = true,
    header = "Denoises held-out images with a run's model, beside classical denoisers: PSNR and SSIM.",
    description = {
        "Adds Gaussian noise of each --noise-sigma S to clean held-out images of the run's data (pixel values in [0, 1], "
            + "clipped), then restores them with the run's model — SDEdit in the latent space: "
            + "encode, add noise up to the σ that matches S, sample back unconditionally, decode — "
            + "and with scikit-image's non-local means, total variation and a Gaussian blur. "
            + "Each method's parameter is chosen per S on calibration images from the training "
            + "split. PSNR and SSIM of each (over every channel), and of the noisy input, against "
            + "the clean images.",
        "Results go to RUN/denoise/<settings id>.json with a picture <settings id>.png (rows: "
            + "noisy | blur | TV | NL-means | ours | ours, mean of K | clean); the same settings "
            + "read the completed result instead of redoing it. Options are checked before any work."},
    footer = {"", "Examples:",
        "  ./latentlab denoise 7e61bed25bcc --noise-sigma 0.1,0.2,0.4",
        "  ./latentlab denoise 7e61bed25bcc --noise-sigma 0.3 --images my-digits.npy"})
final class DenoiseCommand implements Callable<Integer>, SamplingMixin.Command {
  @CommandLine.Mixin
  RunArgument run = new RunArgument();

  @CommandLine.Mixin
  SamplingMixin sampling = new SamplingMixin();

  @Option(names = "--noise-sigma", required = true, split = ",", paramLabel = "S[,S...]",
      description = "standard deviations of the added pixel noise, each in [0, 1]")
  List<Double> noiseSigmas = new ArrayList<>();

  @Option(names = "--heldout", paramLabel = "N",
      description = "denoise the first N held-out images of the run's classes (default "
          + ModelRun.DEFAULT_HELDOUT + ", at most data.holdout)")
  Integer heldout;

  @Option(names = "--images", paramLabel = "FILE",
      description = "denoise these images instead: .npy [N, H, W] or [N, H, W, C] (uint8 or [0, 1]; for the digits 28×28 or 32×32), or a .png")
  Path images;

  @Option(names = "--average", paramLabel = "K", defaultValue = "" + DenoiseTask.DEFAULT_AVERAGE,
      description = "restorations averaged for 'ours, mean of K' (default ${DEFAULT-VALUE})")
  int average;

  @Option(names = "--calibration", paramLabel = "M", defaultValue = "" + DenoiseTask.DEFAULT_CALIBRATION,
      description = "training images that choose each method's parameter (default ${DEFAULT-VALUE})")
  int calibration;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Set<SamplingOptions.Option> samplingOptions() {
    return DenoiseTask.OPTIONS;
  }

  @Override
  public SamplingOptions samplingDefaults() {
    return DenoiseTask.DEFAULTS;
  }

  @Override
  public Integer call() throws IOException {
    CommandLine cli = spec.commandLine();
    DenoiseTask.Request request = DenoiseTask.Request.builder(run.find(cli)).noiseSigmas(noiseSigmas)
        .heldout(heldout).images(images).average(average).calibration(calibration)
        .sampling(sampling.options()).build();
    TaskResult result;
    try (ProgressBars bars = new ProgressBars()) {
      result = new DenoiseTask(Main.home()).run(request, bars);
    } catch (PythonException e) {
      return Main.failed(cli, "denoising", e);
    }
    cli.getOut().print(DenoiseTask.text(result));
    cli.getOut().flush();
    return 0;
  }
}
