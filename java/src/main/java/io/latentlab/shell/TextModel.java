package io.latentlab.shell;

import io.latentlab.lab.SampleTask;
import io.latentlab.lab.SamplingOptions;
import java.util.List;
import java.util.Objects;

/**
 * An imported Stable Diffusion model, from {@code lab.model("sd15")}: each setter changes one
 * sampling setting (the same as {@code ./latentlab sample}'s option of that name) and
 * {@link #sample(String...)} samples prompts with them. Unset settings take the command's
 * defaults (ddim, 50 steps, guidance 7.5, seed 0, the model's own size and spacing).
 *
 * <pre>{@code
 * lab.model("sd15").steps(25).sampler("dpmpp_2m").seed(7).sample("a watercolour fox in the snow")
 * }</pre>
 */
public final class TextModel {
  private final Lab lab;
  private final String name;
  private String negativePrompt = "";
  private Integer size;
  private int images = SampleTask.DEFAULT_IMAGES;
  private SamplingOptions sampling = SamplingOptions.DEFAULTS;
  private String initImage;
  private Double strength;
  private String mask;

  TextModel(Lab lab, String name) {
    this.lab = lab;
    this.name = name;
  }

  /** The model's name (its folder under {@code models/}). */
  public String name() {
    return name;
  }

  /** What guidance steers away from ({@code --negative-prompt}); "" is the unconditional embedding. */
  public TextModel negativePrompt(String text) {
    negativePrompt = Objects.requireNonNull(text, "negativePrompt: give a text (\"\" for none)");
    return this;
  }

  /** Width and height in pixels ({@code --size}); a multiple of the model's downsampling. */
  public TextModel size(int pixels) {
    size = pixels;
    return this;
  }

  /** Images per prompt ({@code -n}). */
  public TextModel images(int n) {
    images = n;
    return this;
  }

  /** The sampler ({@code --sampler}): any of LatentLab's. */
  public TextModel sampler(String name) {
    sampling = lab.guard(() -> sampling.withSampler(name)); // checked now, in one line
    return this;
  }

  /** Sampling steps ({@code --steps}). */
  public TextModel steps(int n) {
    sampling = lab.guard(() -> sampling.withSteps(n)); // checked now, in one line
    return this;
  }

  /** η of the stochastic samplers ({@code --eta}). */
  public TextModel eta(double value) {
    sampling = lab.guard(() -> sampling.withEta(value)); // checked now, in one line
    return this;
  }

  /** The seed of the initial noise ({@code --seed}). */
  public TextModel seed(long value) {
    sampling = lab.guard(() -> sampling.withSeed(value)); // checked now, in one line
    return this;
  }

  /** Classifier-free guidance scale ({@code --guidance}). */
  public TextModel guidance(double scale) {
    sampling = lab.guard(() -> sampling.withGuidance(scale)); // checked now, in one line
    return this;
  }

  /** The timestep spacing ({@code --spacing}); unset, the model's scheduler's. */
  public TextModel spacing(String name) {
    sampling = lab.guard(() -> sampling.withSpacing(name)); // checked now, in one line
    return this;
  }

  /** Image to image: start from this picture, cropped to the size ({@code --init-image}). */
  public TextModel initImage(String file) {
    initImage = file;
    return this;
  }

  /** With an init image: the share of the steps sampled, in (0, 1] ({@code --strength}). */
  public TextModel strength(double share) {
    strength = share;
    return this;
  }

  /** With an init image: inpaint, sampling the mask's white pixels anew ({@code --mask}). */
  public TextModel mask(String file) {
    mask = file;
    return this;
  }

  /**
   * Samples the prompts with this model's settings (or reads back the completed samples of the
   * same request), prints where they are and returns them; {@code .picture()} shows them.
   *
   * @throws LabException in one line for a bad setting or prompt list (nothing is written)
   */
  public TextSamples sample(String... prompts) {
    return lab.guard(() -> {
      SampleTask.Request request = new SampleTask.Request(name,
          prompts == null ? List.of() : List.of(prompts), negativePrompt, size, images,
          sampling, null, initImage == null ? null : lab.resolve(initImage), strength,
          mask == null ? null : lab.resolve(mask));
      SampleTask.Result result = lab.runTask(SampleTask.KIND,
          bars -> new SampleTask(lab.home(), lab.runsDir()).run(request, bars));
      System.out.print(result.text());
      System.out.flush();
      return new TextSamples(result);
    });
  }

  /** E.g. {@code model sd15: ddim, 50 steps, guidance 7.5, seed 0; call sample("a prompt")}. */
  @Override
  public String toString() {
    SamplingOptions chosen = sampling.orElse(SampleTask.DEFAULTS);
    return "model " + name + ": " + chosen.sampler() + ", " + chosen.steps() + " steps, guidance "
        + chosen.guidance() + ", seed " + chosen.seed() + "; call sample(\"a prompt\")";
  }
}
