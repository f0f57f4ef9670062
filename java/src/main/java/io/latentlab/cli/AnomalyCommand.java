package io.latentlab.cli;

import io.latentlab.bridge.PythonException;
import io.latentlab.lab.AnomalyTask;
import io.latentlab.lab.ProgressBars;
import io.latentlab.lab.SamplingOptions;
import io.latentlab.lab.TaskResult;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code latentlab anomaly RUN}: unseen-class images scored by diffusion, beside the VAE. */
@Command(
    name = "anomaly",
    mixinStandardHelpOptions = true,
    header = "Scores held-out images of unseen classes as anomalies: AUROC per score.",
    description = {
        "For a run trained on some classes (data.classes), scores its held-out images — those "
            + "classes normal, the others anomalous — with the model's reconstruction error after "
            + "partial noising to each --timesteps T (SDEdit: encode, noise to σ_T, sample back, "
            + "decode; pixel MSE) and its per-sample denoising loss over evenly spaced timesteps "
            + "(the training objective, a surrogate of the negative ELBO), beside the VAE's "
            + "reconstruction error as the baseline. Prints the AUROC of each, overall and per "
            + "unseen class.",
        "Results go to RUN/anomaly/<settings id>.json with the ROC curves in "
            + "<settings id>-roc.png; the same settings read the completed result instead of "
            + "redoing it. Options are checked before any work."},
    footer = {"", "Examples:",
        "  ./latentlab run experiments/anomaly-mnist.yaml",
        "  ./latentlab anomaly anomaly-mnist",
        "  ./latentlab anomaly 3b0c1d2e4f5a --timesteps 50,200,400 --per-group 300"})
final class AnomalyCommand implements Callable<Integer>, SamplingMixin.Command {
  @CommandLine.Mixin
  RunArgument run = new RunArgument();

  @CommandLine.Mixin
  SamplingMixin sampling = new SamplingMixin();

  @Option(names = "--timesteps", split = ",", paramLabel = "T[,T...]", defaultValue = "100,250,500",
      description = "training timesteps of the reconstruction scores (default ${DEFAULT-VALUE})")
  List<Integer> timesteps = new ArrayList<>();

  @Option(names = "--loss-timesteps", paramLabel = "N", defaultValue = "" + AnomalyTask.DEFAULT_LOSS_TIMESTEPS,
      description = "evenly spaced timesteps the denoising loss averages (default ${DEFAULT-VALUE})")
  int lossTimesteps;

  @Option(names = "--per-group", paramLabel = "N", defaultValue = "" + AnomalyTask.DEFAULT_PER_GROUP,
      description = "at most N normal and N anomalous held-out images (default ${DEFAULT-VALUE})")
  int perGroup;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Set<SamplingOptions.Option> samplingOptions() {
    return AnomalyTask.OPTIONS;
  }

  @Override
  public SamplingOptions samplingDefaults() {
    return AnomalyTask.DEFAULTS;
  }

  @Override
  public Integer call() throws IOException {
    CommandLine cli = spec.commandLine();
    AnomalyTask.Request request = new AnomalyTask.Request(run.find(cli), timesteps, lossTimesteps, perGroup,
        sampling.options());
    TaskResult result;
    try (ProgressBars bars = new ProgressBars()) {
      result = new AnomalyTask(Main.home()).run(request, bars);
    } catch (PythonException e) {
      return Main.failed(cli, "anomaly detection", e);
    }
    cli.getOut().print(AnomalyTask.text(result));
    cli.getOut().flush();
    return 0;
  }
}
