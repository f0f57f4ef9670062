package io.latentlab.cli;

import io.latentlab.bridge.PythonException;
import io.latentlab.lab.InpaintTask;
import io.latentlab.lab.ModelRun;
import io.latentlab.lab.ProgressBars;
import io.latentlab.lab.SamplingOptions;
import io.latentlab.lab.TaskResult;
import java.io.IOException;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code latentlab inpaint RUN --mask M}: fills the missing part of held-out digits by sampling
 * step by step from Java, replacing the known region's latents after every step.
 */
@Command(
    name = "inpaint",
    mixinStandardHelpOptions = true,
    header = "Completes masked held-out images with a run's model, driven step by step from Java.",
    description = {
        "Masks held-out images (--mask left-half | center | FILE, the missing region; a FILE is "
            + ".npy or a grey .png of the images' size, or 28×28 for the digits, nonzero = missing), encodes the masked input, "
            + "and samples unconditionally with a SamplerSession: after every step Java sets the "
            + "latents of the known region to the known latents re-noised to the current σ "
            + "(RePaint), so the last step keeps them exactly; with --resample R each step is "
            + "taken R more times, its result re-noised back to the step's starting σ before each "
            + "retake (RePaint's resampling, jump length 1), which lets the generated region agree "
            + "with the known one at R + 1 times the model evaluations. A latent cell is "
            + "known only if all the pixels it covers (f×f for a VAE that downsamples by f) are known.",
        "Scores the data's classifier's accuracy on the completed images beside the masked input "
            + "and the originals. Results go to RUN/inpaint/<settings id>.json with a picture "
            + "(original | masked | completed); the same settings read the completed result."},
    footer = {"", "Examples:",
        "  ./latentlab inpaint 7e61bed25bcc --mask left-half",
        "  ./latentlab inpaint 7e61bed25bcc --mask center --heldout 500 --steps 50"})
final class InpaintCommand implements Callable<Integer>, SamplingMixin.Command {
  @CommandLine.Mixin
  RunArgument run = new RunArgument();

  @CommandLine.Mixin
  SamplingMixin sampling = new SamplingMixin();

  @Option(names = "--mask", required = true, paramLabel = "left-half|center|FILE",
      description = "the missing region")
  String mask;

  @Option(names = "--heldout", paramLabel = "N",
      description = "inpaint the first N held-out images of the run's classes (default "
          + ModelRun.DEFAULT_HELDOUT + ", at most data.holdout)")
  Integer heldout;

  @Option(names = "--resample", paramLabel = "R", defaultValue = "0",
      description = "retakes of each step after re-noising its result (RePaint's resampling; default ${DEFAULT-VALUE})")
  int resample;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Set<SamplingOptions.Option> samplingOptions() {
    return InpaintTask.OPTIONS;
  }

  @Override
  public SamplingOptions samplingDefaults() {
    return InpaintTask.DEFAULTS;
  }

  @Override
  public Integer call() throws IOException {
    CommandLine cli = spec.commandLine();
    InpaintTask.Request request = new InpaintTask.Request(run.find(cli), mask, heldout, resample,
        sampling.options());
    TaskResult result;
    try (ProgressBars bars = new ProgressBars()) {
      result = new InpaintTask(Main.home()).run(request, bars);
    } catch (PythonException e) {
      return Main.failed(cli, "inpainting", e);
    }
    cli.getOut().print(InpaintTask.text(result));
    cli.getOut().flush();
    return 0;
  }
}
