package io.latentlab.config;

import static io.latentlab.config.Checks.orDefault;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * The two training stages of a latent diffusion model, run in order.
 *
 * @param vae the autoencoder stage
 * @param unet the latent denoiser stage
 */
public record TrainConfig(VaeTraining vae, UnetTraining unet) {

  /** Fills defaults. */
  public TrainConfig {
    vae = orDefault(vae, new VaeTraining(null, null, null, null));
    unet = orDefault(unet, new UnetTraining(null, null, null, null, null, null, null, null));
  }

  static TrainConfig defaults() {
    return new TrainConfig(null, null);
  }

  /**
   * Training of the VAE.
   *
   * @param steps optimiser steps
   * @param batchSize images per step
   * @param learningRate AdamW peak learning rate
   * @param klWeight β of the loss reconstruction + β·KL
   */
  public record VaeTraining(Integer steps, Integer batchSize, Double learningRate, Double klWeight) {
    /** Fills defaults (500 steps, batch 32, 2e-3, β = 1e-3) and checks ranges. */
    public VaeTraining {
      steps = Checks.atLeast("train.vae.steps", orDefault(steps, 500), 1, 10_000_000);
      batchSize = Checks.atLeast("train.vae.batch_size", orDefault(batchSize, 32), 1, 8192);
      learningRate = Checks.inRange("train.vae.learning_rate", orDefault(learningRate, 2e-3), 1e-8, 1.0);
      klWeight = Checks.inRange("train.vae.kl_weight", orDefault(klWeight, 1e-3), 0.0, 1e3);
    }
  }

  /**
   * Training of the latent U-Net.
   *
   * @param steps optimiser steps
   * @param batchSize latents per step
   * @param learningRate AdamW peak learning rate
   * @param emaDecay decay of the exponential moving average of the weights used for sampling
   * @param labelDropout probability of replacing a label by the null label (for guidance)
   * @param lossWeighting {@code uniform} (the simple DDPM loss) or {@code min_snr} (Hang et al.
   *     2023: each timestep's loss weighted as an x0 loss of weight min(SNR, γ))
   * @param minSnrGamma γ of {@code min_snr}
   * @param init an imported model to fine-tune (its name under {@code models/}, or its folder in
   *     the project): its U-Net starts from the model's weights, its VAE, text encoder and
   *     tokenizer are used as they are; Python finds and checks it. Left out of the config's
   *     JSON when absent, so the trial ids of other configs stay as they were
   */
  public record UnetTraining(
      Integer steps,
      Integer batchSize,
      Double learningRate,
      Double emaDecay,
      Double labelDropout,
      String lossWeighting,
      Double minSnrGamma,
      @JsonInclude(JsonInclude.Include.NON_NULL) String init) {
    /**
     * The loss weightings there are, checked before Python starts; Python's {@code losses.py}
     * owns them and a test checks that the two agree.
     */
    public static final List<String> LOSS_WEIGHTINGS = List.of("uniform", "min_snr");

    /** Fills defaults (2500 steps, batch 64, 2e-3, 0.999, 0.1, uniform, γ 5) and checks ranges. */
    public UnetTraining {
      steps = Checks.atLeast("train.unet.steps", orDefault(steps, 2500), 1, 10_000_000);
      batchSize = Checks.atLeast("train.unet.batch_size", orDefault(batchSize, 64), 1, 8192);
      learningRate = Checks.inRange("train.unet.learning_rate", orDefault(learningRate, 2e-3), 1e-8, 1.0);
      emaDecay = Checks.inRange("train.unet.ema_decay", orDefault(emaDecay, 0.999), 0.0, 1.0);
      labelDropout = Checks.inRange("train.unet.label_dropout", orDefault(labelDropout, 0.1), 0.0, 1.0);
      lossWeighting = Checks.oneOf("train.unet.loss_weighting", orDefault(lossWeighting, "uniform"),
          LOSS_WEIGHTINGS);
      minSnrGamma = Checks.inRange("train.unet.min_snr_gamma", orDefault(minSnrGamma, 5.0), 1e-3, 1e6);
      if (init != null && init.isBlank()) {
        throw new IllegalArgumentException("train.unet.init: give an imported model's name, or leave it out");
      }
    }
  }
}
