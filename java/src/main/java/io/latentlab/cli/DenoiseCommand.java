package io.latentlab.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.run.DataSource;
import io.latentlab.tensor.Allocators;
import io.latentlab.tensor.Images;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorSlot;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.arrow.memory.BufferAllocator;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code latentlab denoise RUN --noise-sigma S}: SDEdit denoising beside classical denoisers. */
@Command(
    name = "denoise",
    mixinStandardHelpOptions = true,
    header = "Denoises digits with a run's model, beside classical denoisers: PSNR and SSIM.",
    description = {
        "Adds Gaussian noise of each --noise-sigma S to clean digits (pixel values in [0, 1], "
            + "clipped), then restores them with the run's model — SDEdit in the latent space: "
            + "encode, add noise up to the σ that matches S, sample back unconditionally, decode — "
            + "and with scikit-image's non-local means, total variation and a Gaussian blur. "
            + "Each method's parameter is chosen per S on calibration digits from the training "
            + "split. PSNR and SSIM of each, and of the noisy input, against the clean digits.",
        "Results go to RUN/denoise/<settings id>.json with a picture <settings id>.png (rows: "
            + "noisy | blur | TV | NL-means | ours | ours, mean of K | clean); the same settings "
            + "read the completed result instead of redoing it. Options are checked before any work."},
    footer = {"", "Examples:",
        "  ./latentlab denoise 7e61bed25bcc --noise-sigma 0.1,0.2,0.4",
        "  ./latentlab denoise 7e61bed25bcc --noise-sigma 0.3 --images my-digits.npy"})
final class DenoiseCommand implements Callable<Integer>, ResultCommand {
  static final String KIND = "denoise";
  private static final ObjectMapper JSON = ResultJson.MAPPER;

  @CommandLine.Mixin
  RunArgument run = new RunArgument();

  @Option(names = "--noise-sigma", required = true, split = ",", paramLabel = "S[,S...]",
      description = "standard deviations of the added pixel noise, each in [0, 1]")
  List<Double> noiseSigmas = new ArrayList<>();

  @Option(names = "--heldout", paramLabel = "N",
      description = "denoise the first N held-out digits of the run's classes (default 100)")
  Integer heldout;

  @Option(names = "--images", paramLabel = "FILE",
      description = "denoise these digits instead: .npy [N, 28, 28] or [N, 32, 32] (uint8 or [0, 1]), or a grey .png")
  Path images;

  @Option(names = "--steps", defaultValue = "20", description = "sampler steps from the start σ (default 20)")
  int steps;

  @Option(names = "--sampler", defaultValue = "ddim", description = "sampler (default ddim)")
  String sampler;

  @Option(names = "--average", paramLabel = "K", defaultValue = "4",
      description = "restorations averaged for 'ours, mean of K' (default 4)")
  int average;

  @Option(names = "--calibration", paramLabel = "M", defaultValue = "32",
      description = "training digits that choose each method's parameter (default 32)")
  int calibration;

  @Option(names = "--seed", defaultValue = "0", description = "seed of the noise (default 0)")
  int seed;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  /** The result these options name, once {@link #call()} has checked them. */
  private StoredResult stored;

  @Override
  public StoredResult stored() {
    return stored;
  }

  @Override
  public Integer call() throws IOException {
    CommandLine cli = spec.commandLine();
    PrintWriter out = cli.getOut();
    Path home = Main.home();
    ModelRun model = ModelRun.find(cli, run);
    int holdout = model.config().data().holdout();
    for (double s : noiseSigmas) {
      if (!(s >= 0 && s <= 1)) {
        throw new CommandLine.ParameterException(cli, "--noise-sigma: each must be in [0, 1] "
            + "(pixel values are in [0, 1]), got " + s);
      }
    }
    if (images != null && heldout != null) {
      throw new CommandLine.ParameterException(cli, "--heldout and --images: choose one source of digits");
    }
    Path imageFile = null;
    if (images != null) {
      imageFile = images.toAbsolutePath().normalize();
      String name = imageFile.getFileName().toString();
      if (!Files.isRegularFile(imageFile) || !(name.endsWith(".npy") || name.endsWith(".png"))) {
        throw new CommandLine.ParameterException(cli, "--images: " + images
            + " must be an existing .npy or .png file");
      }
    }
    int count = heldout == null ? Math.min(100, holdout) : heldout;
    if (imageFile == null && (count < 1 || count > holdout)) {
      throw new CommandLine.ParameterException(cli, "--heldout: must be in [1, data.holdout = "
          + holdout + "], got " + count);
    }
    ObjectNode request = JSON.createObjectNode();
    request.set("noise_sigmas", JSON.valueToTree(noiseSigmas));
    request.put("steps", steps);
    request.put("sampler", sampler);
    request.put("average", average);
    request.put("calibration", calibration);
    request.put("seed", seed);
    if (imageFile != null) {
      request.put("images", imageFile.toString());
    } else {
      request.put("heldout", count);
    }
    PythonBridge bridge = PythonBridge.start(home);
    ObjectNode resolved = ModelRun.checkedRequest(cli, bridge, "check_denoise_request", request);
    ObjectNode identity = resolved.deepCopy();
    identity.remove("images"); // the file's content names it, not its path
    stored = StoredResult.of(model, KIND, identity, imageFile);
    if (stored.printIfCompleted(out, DenoiseCommand::print)) {
      return 0;
    }
    DataSource data = model.data(bridge, home);
    JsonNode result;
    byte[] picture;
    try (BufferAllocator memory = Allocators.aligned();
        TensorSlot slot = TensorSlot.allocate(memory);
        ProgressBars bars = new ProgressBars()) {
      result = JSON.readTree(bridge.callForString("denoise_run", model.checkpoint().toString(),
          data.location().toString(), model.dataJson(), resolved.toString(), bars,
          slot.arrayAddress(), slot.schemaAddress()));
      try (Tensor pictureTensor = slot.take()) {
        picture = pictureTensor.shape()[0] == 0 ? null
            : ModelRun.png(Images.grid(pictureTensor, result.get("picture_columns").size(), 2));
      }
    } catch (PythonException e) {
      return StoredResult.failure(cli, e, "denoising", "");
    }
    stored.write((ObjectNode) result, picture == null ? Map.of() : Map.of(".png", picture), out,
        DenoiseCommand::print);
    return 0;
  }

  private static void print(PrintWriter out, JsonNode result, Path file) {
    out.println("denoising " + result.path("source").asText() + "; PSNR (dB) / SSIM against the clean digits:");
    out.print(result.get("markdown").asText());
    out.println("result:  " + file);
    Path png = file.resolveSibling(file.getFileName().toString().replace(".json", ".png"));
    if (Files.exists(png)) {
      out.println("picture: " + png);
    }
    out.flush();
  }
}
