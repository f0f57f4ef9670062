package io.latentlab.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonException;
import io.latentlab.run.DataSource;
import io.latentlab.run.SamplerOptions;
import io.latentlab.run.SamplerSession;
import io.latentlab.tensor.Allocators;
import io.latentlab.tensor.Images;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorSlot;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.memory.BufferAllocator;
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
    header = "Completes masked digits with a run's model, driven step by step from Java.",
    description = {
        "Masks held-out digits (--mask left-half | center | FILE, the missing region; a FILE is "
            + ".npy or a grey .png, 28×28 or 32×32, nonzero = missing), encodes the masked input, "
            + "and samples unconditionally with a SamplerSession: after every step Java sets the "
            + "latents of the known region to the known latents re-noised to the current σ "
            + "(RePaint), so the last step keeps them exactly; with --resample R each step is "
            + "taken R more times, its result re-noised back to the step's starting σ before each "
            + "retake (RePaint's resampling, jump length 1), which lets the generated region agree "
            + "with the known one at R + 1 times the model evaluations. A latent cell is "
            + "known only if all the pixels it covers (4×4 here) are known.",
        "Scores the digit classifier's accuracy on the completed digits beside the masked input "
            + "and the originals. Results go to RUN/inpaint/<settings id>.json with a picture "
            + "(original | masked | completed); the same settings read the completed result."},
    footer = {"", "Examples:",
        "  ./latentlab inpaint 7e61bed25bcc --mask left-half",
        "  ./latentlab inpaint 7e61bed25bcc --mask center --heldout 500 --steps 50"})
final class InpaintCommand implements Callable<Integer>, ResultCommand {
  static final String KIND = "inpaint";
  private static final ObjectMapper JSON = ResultJson.MAPPER;

  @CommandLine.Mixin
  RunArgument run = new RunArgument();

  @Option(names = "--mask", required = true, paramLabel = "left-half|center|FILE",
      description = "the missing region")
  String mask;

  @Option(names = "--heldout", paramLabel = "N", defaultValue = "200",
      description = "inpaint the first N held-out digits of the run's classes (default 200)")
  int heldout;

  @Option(names = "--steps", defaultValue = "50", description = "sampler steps (default 50)")
  int steps;

  @Option(names = "--sampler", defaultValue = "ddim", description = "sampler (default ddim)")
  String sampler;

  @Option(names = "--seed", defaultValue = "0", description = "seed of the sampler and the re-noising (default 0)")
  long seed;

  @Option(names = "--resample", paramLabel = "R", defaultValue = "0",
      description = "retakes of each step after re-noising its result (RePaint's resampling; default 0)")
  int resample;

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
    Path maskFile = null;
    if (!mask.equals("left-half") && !mask.equals("center")) {
      maskFile = Path.of(mask).toAbsolutePath().normalize();
      String name = maskFile.getFileName().toString();
      if (!Files.isRegularFile(maskFile) || !(name.endsWith(".npy") || name.endsWith(".png"))) {
        throw new CommandLine.ParameterException(cli, "--mask: use left-half, center, or an existing "
            + ".npy or .png file; got " + mask);
      }
    }
    if (heldout < 1 || heldout > model.config().data().holdout()) {
      throw new CommandLine.ParameterException(cli, "--heldout: must be in [1, data.holdout = "
          + model.config().data().holdout() + "], got " + heldout);
    }
    if (steps < 1) {
      throw new CommandLine.ParameterException(cli, "--steps: must be >= 1, got " + steps);
    }
    if (resample < 0 || resample > 20) {
      throw new CommandLine.ParameterException(cli, "--resample: must be in [0, 20], got " + resample);
    }
    PythonBridge bridge = PythonBridge.start(home);
    if (!io.latentlab.bridge.PythonConstants.of(bridge).samplers().contains(sampler)) {
      throw new CommandLine.ParameterException(cli, "--sampler: unknown sampler '" + sampler + "'; use one of "
          + String.join(", ", io.latentlab.bridge.PythonConstants.of(bridge).samplers()));
    }
    ObjectNode request = JSON.createObjectNode();
    request.put("mask", maskFile == null ? mask : "file");
    request.put("heldout", heldout);
    request.put("steps", steps);
    request.put("sampler", sampler);
    request.put("seed", seed);
    if (resample > 0) { // absent when 0, so results from before the option keep their ids
      request.put("resample", resample);
    }
    stored = StoredResult.of(model, KIND, request, maskFile);
    if (stored.printIfCompleted(out, InpaintCommand::print)) {
      return 0;
    }
    DataSource data = model.data(bridge, home);
    ObjectNode result;
    byte[] picture;
    try (BufferAllocator memory = Allocators.aligned();
        TensorSlot knownSlot = TensorSlot.allocate(memory);
        TensorSlot cellsSlot = TensorSlot.allocate(memory);
        ProgressBars bars = new ProgressBars()) {
      JsonNode job = JSON.readTree(bridge.callForString("inpaint_prepare", model.checkpoint().toString(),
          data.location().toString(), model.dataJson(), maskFile == null ? mask : maskFile.toString(),
          heldout, knownSlot.arrayAddress(), knownSlot.schemaAddress(), cellsSlot.arrayAddress(),
          cellsSlot.schemaAddress()));
      float[] known;
      float[] cells;
      try (Tensor knownLatents = knownSlot.take(); Tensor knownCells = cellsSlot.take()) {
        known = knownLatents.toFloatArray();
        cells = knownCells.toFloatArray();
      }
      SamplerOptions options = new SamplerOptions(sampler, steps, seed,
          Collections.nCopies(heldout, job.get("null_label").asInt()), 0.0);
      try (SamplerSession session = SamplerSession.open(bridge, model.dir(), options, memory, bars)) {
        inpaint(session, memory, known, cells, resample, new SplittableRandom(seed));
        try (Tensor completed = session.decode();
            ArrowArray array = ArrowArray.allocateNew(memory);
            ArrowSchema schema = ArrowSchema.allocateNew(memory);
            TensorSlot pictureSlot = TensorSlot.allocate(memory)) {
          completed.exportTo(memory, array.memoryAddress(), schema.memoryAddress());
          result = (ObjectNode) JSON.readTree(bridge.callForString("inpaint_finish",
              job.get("handle").asLong(), home.resolve(".cache").toString(), array.memoryAddress(),
              schema.memoryAddress(), pictureSlot.arrayAddress(), pictureSlot.schemaAddress()));
          try (Tensor pictureTensor = pictureSlot.take()) {
            picture = ModelRun.png(Images.grid(pictureTensor, 3, 2));
          }
        }
      }
    } catch (PythonException e) {
      return StoredResult.failure(cli, e, "inpainting", "--");
    }
    result.set("request", request);
    stored.write(result, Map.of(".png", picture), out, InpaintCommand::print);
    return 0;
  }

  /**
   * The RePaint loop: after every step, the known cells become the known latents re-noised to
   * the session's current σ (exactly the known latents after the last step, where σ = 0). With
   * {@code resample} R > 0, each step is taken R + 1 times: before a retake, the step's result
   * (known cells set) is re-noised from σ_{i+1} back to σ_i with fresh Gaussian noise of
   * variance σ_i² − σ_{i+1}² and the session rewound to it.
   *
   * @param known the known latents, {@code [N, h, w, c]} flattened
   * @param cells 1 for a known latent cell, {@code [1, h, w, c]} flattened
   */
  static void inpaint(SamplerSession session, BufferAllocator memory, float[] known, float[] cells,
      int resample, SplittableRandom random) {
    while (!session.done()) {
      double from = session.sigma();
      for (int take = 0; take <= resample; take++) {
        try (SamplerSession.Step step = session.step()) {
          double sigma = session.sigma();
          float[] x = step.latents().toFloatArray();
          for (int i = 0; i < x.length; i++) {
            if (cells[i % cells.length] == 1f) {
              x[i] = (float) (known[i] + sigma * random.nextGaussian());
            }
          }
          boolean retake = take < resample;
          if (retake) {
            double back = Math.sqrt(Math.max(0, from * from - sigma * sigma));
            for (int i = 0; i < x.length; i++) {
              x[i] = (float) (x[i] + back * random.nextGaussian());
            }
          }
          try (Tensor edited = Tensor.ofFloats(memory, step.latents().shape(), x)) {
            if (retake) {
              session.rewind(edited);
            } else {
              session.setLatents(edited);
            }
          }
        }
      }
    }
  }

  private static void print(PrintWriter out, JsonNode result, Path file) {
    JsonNode accuracy = result.get("accuracy");
    out.printf("%d held-out digits, mask %s (%d missing pixels; %d of %d latent cells known)%n",
        result.get("count").asInt(), result.get("request").get("mask").asText(),
        result.get("missing_pixels").asInt(), result.get("known_latent_cells").asInt(),
        result.get("latent_cells").asInt());
    out.printf("  classifier accuracy: original %.3f, masked %.3f, completed %.3f%n",
        accuracy.get("original").asDouble(), accuracy.get("masked").asDouble(),
        accuracy.get("completed").asDouble());
    out.println("result:  " + file);
    out.println("picture: " + file.resolveSibling(file.getFileName().toString().replace(".json", ".png")));
    out.flush();
  }
}
