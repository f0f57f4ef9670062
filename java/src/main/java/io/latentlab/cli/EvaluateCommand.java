package io.latentlab.cli;

import io.latentlab.bridge.PythonException;
import io.latentlab.lab.EvaluateTask;
import io.latentlab.lab.ProgressBars;
import io.latentlab.lab.SamplingOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code latentlab evaluate RUN}: FID beside its floor, conditional accuracy, the NFE table. */
@Command(
    name = "evaluate",
    mixinStandardHelpOptions = true,
    header = "Scores a completed run's model: FID beside its floor, conditional accuracy.",
    description = {
        "Samples from a completed run's model and scores the samples on the features of "
            + "LatentLab's scoring classifier for the data (trained once on the run's training split and cached "
            + "in .cache/): FID against the training images beside its floor (held-out real "
            + "images), the FID of the VAE's reconstructions, and conditional accuracy (the share "
            + "of samples classified as the class they were asked for).",
        "Sampling options default to the run's own sample section. With --nfe-table, also every "
            + "sampler at 5, 10, 20 and 50 model evaluations beside DDIM at 100 steps. Results go "
            + "to RUN/evaluation-<time>.json; earlier evaluations are never overwritten. Options "
            + "are checked before any work starts."},
    footer = {"", "Examples:",
        "  ./latentlab evaluate 7e61bed25bcc",
        "  ./latentlab evaluate 7e61bed25bcc --sampler heun --steps 10 --samples 500",
        "  ./latentlab evaluate 7e61bed25bcc --nfe-table --report docs/mnist-ldm-quality.md"})
final class EvaluateCommand implements Callable<Integer>, SamplingMixin.Command {
  @CommandLine.Mixin
  RunArgument run = new RunArgument();

  @CommandLine.Mixin
  SamplingMixin sampling = new SamplingMixin();

  @Option(names = "--samples", paramLabel = "N", defaultValue = "" + EvaluateTask.DEFAULT_SAMPLES,
      description = "samples to score; at most data.holdout, whose images give the floor (default ${DEFAULT-VALUE})")
  int samples;

  @Option(names = "--nfe-table", description = "also score every sampler at each of --nfes")
  boolean nfeTable;

  @Option(names = "--nfes", split = ",", paramLabel = "N,N,...", defaultValue = "5,10,20,50",
      description = "model evaluations for --nfe-table (default ${DEFAULT-VALUE})")
  List<Integer> nfes = new ArrayList<>();

  @Option(names = "--table-samples", paramLabel = "N", defaultValue = "" + EvaluateTask.DEFAULT_TABLE_SAMPLES,
      description = "samples per cell of --nfe-table (default ${DEFAULT-VALUE})")
  int tableSamples;

  @Option(names = "--report", paramLabel = "FILE",
      description = "with --nfe-table: also write the table as Markdown to FILE (inside the project)")
  Path report;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Set<SamplingOptions.Option> samplingOptions() {
    return EvaluateTask.OPTIONS;
  }

  @Override
  public SamplingOptions samplingDefaults() {
    return EvaluateTask.DEFAULTS;
  }

  @Override
  public String unsetDefault() {
    return "default: the run's";
  }

  @Override
  public Integer call() throws IOException {
    CommandLine cli = spec.commandLine();
    EvaluateTask.Request request = new EvaluateTask.Request(run.find(cli), sampling.options(), samples, nfeTable,
        nfes, tableSamples, report);
    EvaluateTask.Result result;
    try (ProgressBars bars = new ProgressBars()) {
      result = new EvaluateTask(Main.home()).run(request, bars);
    } catch (PythonException e) {
      return Main.failed(cli, "evaluation", e);
    }
    cli.getOut().print(EvaluateTask.text(result));
    cli.getOut().flush();
    return 0;
  }
}
