package io.latentlab.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonConstants;
import io.latentlab.bridge.PythonException;
import io.latentlab.config.ConfigLoader;
import io.latentlab.config.ExperimentConfig;
import io.latentlab.config.SampleConfig;
import io.latentlab.run.DataSource;
import io.latentlab.run.DataSources;
import io.latentlab.run.RunDirectory;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
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
            + "LatentLab's digit classifier (trained once on the run's training split and cached "
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
final class EvaluateCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  @CommandLine.Mixin
  RunArgument run = new RunArgument();

  @Option(names = "--sampler", description = "sampler (default: the run's)")
  String sampler;

  @Option(names = "--steps", description = "steps (default: the run's)")
  Integer steps;

  @Option(names = "--guidance", paramLabel = "W", description = "guidance scale (default: the run's)")
  Double guidance;

  @Option(names = "--spacing", description = "σ spacing (default: the run's)")
  String spacing;

  @Option(names = "--eta", description = "η of stochastic samplers (default: the run's)")
  Double eta;

  @Option(names = "--samples", paramLabel = "N", defaultValue = "1000",
      description = "samples to score; at most data.holdout, whose images give the floor (default 1000)")
  int samples;

  @Option(names = "--seed", defaultValue = "0", description = "sampling seed (default 0)")
  long seed;

  @Option(names = "--nfe-table", description = "also score every sampler at each of --nfes")
  boolean nfeTable;

  @Option(names = "--nfes", split = ",", paramLabel = "N,N,...", defaultValue = "5,10,20,50",
      description = "model evaluations for --nfe-table (default 5,10,20,50)")
  List<Integer> nfes = new ArrayList<>();

  @Option(names = "--table-samples", paramLabel = "N", defaultValue = "500",
      description = "samples per cell of --nfe-table (default 500)")
  int tableSamples;

  @Option(names = "--report", paramLabel = "FILE",
      description = "with --nfe-table: also write the table as Markdown to FILE (inside the project)")
  Path report;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws IOException {
    CommandLine cli = spec.commandLine();
    PrintWriter out = cli.getOut();
    Path home = Main.home();
    Path dir = run.find(cli);
    RunDirectory runDir;
    try {
      runDir = RunDirectory.existing(dir);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(cli, e.getMessage());
    }
    ExperimentConfig config = new ConfigLoader().load(dir.resolve("config.yaml"));
    Path reportFile = checkedReport(cli, home);
    if (samples < 2 || samples > config.data().holdout()) {
      throw new CommandLine.ParameterException(cli, "--samples must be in [2, data.holdout = "
          + config.data().holdout() + "], got " + samples);
    }
    if (nfeTable && (tableSamples < 2 || tableSamples > config.data().holdout()
        || nfes.stream().anyMatch(n -> n < 1))) {
      throw new CommandLine.ParameterException(cli, "--table-samples must be in [2, "
          + config.data().holdout() + "] and --nfes positive");
    }
    Path checkpoint = dir.resolve(RunDirectory.CHECKPOINT);
    if (!Files.isRegularFile(checkpoint.resolve("checkpoint.json"))) {
      throw new CommandLine.ParameterException(cli, dir + " has no trained weights ("
          + checkpoint + "/checkpoint.json); rerun the experiment with this LatentLab to evaluate it");
    }
    if (steps != null && steps < 1) {
      throw new CommandLine.ParameterException(cli, "--steps must be >= 1, got " + steps);
    }
    if (eta != null && !(eta >= 0 && eta <= 1)) {
      throw new CommandLine.ParameterException(cli, "--eta must be in [0, 1], got " + eta);
    }
    if (guidance != null && !(guidance >= 0 && guidance <= 100)) {
      throw new CommandLine.ParameterException(cli, "--guidance must be in [0, 100], got " + guidance);
    }
    ObjectNode request = request(config.sample());
    PythonBridge bridge = PythonBridge.start(home);
    checkNames(cli, PythonConstants.of(bridge), request);
    DataSource data = DataSources.of(bridge, home, dir.resolve("config.yaml"),
        new ConfigLoader().canonicalJson(config));
    JsonNode result;
    try (ProgressBars bars = new ProgressBars()) {
      result = JSON.readTree(bridge.callForString("evaluate_run", checkpoint.toString(),
          data.location().toString(), config.data().holdout(),
          home.resolve(".cache").toString(), JSON.writeValueAsString(request), bars));
    } catch (PythonException e) {
      cli.getErr().println("evaluation failed: " + e.getMessage());
      return Main.EXIT_FAILED;
    }
    ObjectNode record = JSON.createObjectNode();
    record.put("evaluated_at", Instant.now().toString());
    record.set("request", request);
    record.setAll((ObjectNode) result);
    String name = "evaluation-" + DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
        .withZone(ZoneOffset.UTC).format(Instant.now()) + ".json";
    for (int n = 2; Files.exists(dir.resolve(name)); n++) {
      name = name.replaceFirst("(-\\d+)?\\.json$", "") + "-" + n + ".json";
    }
    runDir.writeText(name, JSON.writeValueAsString(record));
    print(out, result.get("score"));
    if (result.has("markdown") && reportFile != null) {
      byte[] markdown = result.get("markdown").asText().getBytes(StandardCharsets.UTF_8);
      RunDirectory.writeAtomically(reportFile, stream -> stream.write(markdown));
      out.println("report:     " + reportFile);
    } else if (result.has("markdown")) {
      out.println();
      out.print(result.get("markdown").asText());
    }
    out.println("evaluation: " + dir.resolve(name));
    out.flush();
    return 0;
  }

  /** Refuses unknown sampler and spacing names before anything expensive starts. */
  private static void checkNames(CommandLine cli, PythonConstants constants, ObjectNode request) {
    String chosenSampler = request.get("sampler").asText();
    if (!constants.samplers().contains(chosenSampler)) {
      throw new CommandLine.ParameterException(cli, "--sampler: unknown sampler '" + chosenSampler
          + "'; use one of " + String.join(", ", constants.samplers()));
    }
    String chosenSpacing = request.get("spacing").asText();
    if (!constants.spacings().contains(chosenSpacing)) {
      throw new CommandLine.ParameterException(cli, "--spacing: unknown spacing '" + chosenSpacing
          + "'; use one of " + String.join(", ", constants.spacings()));
    }
  }

  private ObjectNode request(SampleConfig recorded) {
    ObjectNode request = JSON.createObjectNode();
    request.put("sampler", sampler != null ? sampler : recorded.sampler());
    request.put("steps", steps != null ? steps : recorded.steps());
    request.put("guidance_scale", guidance != null ? guidance : recorded.guidanceScale());
    request.put("spacing", spacing != null ? spacing : recorded.spacing());
    request.put("rho", recorded.rho());
    boolean sameSampler = sampler == null || sampler.equals(recorded.sampler());
    Double chosenEta = eta != null ? eta : sameSampler ? recorded.eta() : null;
    if (chosenEta == null) {
      request.putNull("eta");
    } else {
      request.put("eta", chosenEta);
    }
    request.put("num_samples", samples);
    request.put("seed", seed);
    if (nfeTable) {
      request.set("nfes", JSON.valueToTree(nfes));
      request.put("table_samples", tableSamples);
    }
    return request;
  }

  private Path checkedReport(CommandLine cli, Path home) {
    if (report == null) {
      return null;
    }
    if (!nfeTable) {
      throw new CommandLine.ParameterException(cli, "--report writes the --nfe-table; add --nfe-table");
    }
    Path file = home.resolve(report).toAbsolutePath().normalize();
    if (!file.startsWith(home) || file.getParent() == null || !Files.isDirectory(file.getParent())) {
      throw new CommandLine.ParameterException(cli,
          "--report: " + report + " must be a file in an existing folder inside the project");
    }
    return file;
  }

  private static void print(PrintWriter out, JsonNode score) {
    out.printf("%s, %d steps (%d NFE), guidance %s, %s spacing, %d samples, seed %d%n",
        score.get("sampler").asText(), score.get("steps").asInt(), score.get("nfe").asInt(),
        score.get("guidance_scale").asText(), score.get("spacing").asText(),
        score.get("num_samples").asInt(), score.get("seed").asLong());
    out.printf("  FID                    %.3f  (%.2f× its floor)%n", score.get("fid").asDouble(),
        score.get("fid_over_floor").asDouble());
    out.printf("  FID floor (held-out)   %.3f%n", score.get("fid_floor").asDouble());
    out.printf("  FID VAE reconstruction %.3f%n", score.get("fid_vae_reconstruction").asDouble());
    out.printf("  conditional accuracy   %.4f%n", score.get("conditional_accuracy").asDouble());
    out.printf("  classifier accuracy    %.4f (held-out)%n",
        score.get("classifier_heldout_accuracy").asDouble());
    out.printf("  sampling               %.1f s%n", score.get("seconds").asDouble());
  }
}
