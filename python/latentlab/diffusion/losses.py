"""Training losses of the denoiser."""

import jax
import jax.numpy as jnp

from latentlab.diffusion.parameterization import target
from latentlab.diffusion.schedules import NoiseSchedule, add_noise


LOSS_WEIGHTINGS = ("uniform", "min_snr")


def min_snr_weight(prediction: str, snr, gamma: float):
    """Min-SNR-γ (Hang et al. 2023): the weight that makes a ``prediction`` loss equal to an x0
    loss weighted min(SNR, γ). ε-MSE = SNR · x0-MSE and v-MSE = (SNR + 1) · x0-MSE, so the
    weights are min(SNR, γ)/SNR, min(SNR, γ) and min(SNR, γ)/(SNR + 1)."""
    clipped = jnp.minimum(snr, gamma)
    if prediction == "eps":
        return clipped / snr
    if prediction == "x0":
        return clipped
    if prediction == "v":
        return clipped / (snr + 1.0)
    raise ValueError(f"unknown prediction {prediction!r}")


def denoising_loss(apply_fn, params, x0, labels, key, schedule: NoiseSchedule,
                   prediction: str, label_dropout: float, null_label,
                   weighting: str = "uniform", min_snr_gamma: float = 5.0):
    """The DDPM objective (Ho et al. 2020, eq. 14) for any parameterisation, uniform over t or
    weighted by :func:`min_snr_weight`; labels are replaced by the null label with probability
    ``label_dropout`` so one network learns both the conditional and the unconditional denoiser.

    x0: [B, h, w, C] float32 latents; labels: [B] int32 with ``null_label`` an int, or a
    text model's token ids [B, L] with ``null_label`` the empty prompt's [L] (caption dropout).
    Returns the scalar mean loss.
    """
    if weighting not in LOSS_WEIGHTINGS:
        raise ValueError(f"unknown loss weighting {weighting!r}; allowed: "
                         f"{', '.join(LOSS_WEIGHTINGS)}")
    t_key, noise_key, drop_key = jax.random.split(key, 3)
    batch = x0.shape[0]
    t = jax.random.randint(t_key, (batch,), 0, schedule.num_timesteps)
    eps = jax.random.normal(noise_key, x0.shape, x0.dtype)
    x_t = add_noise(schedule, x0, eps, t)
    dropped = jax.random.bernoulli(drop_key, label_dropout, (batch,))
    # a caption's token ids [B, L] are dropped whole, to the empty prompt's ids [L]
    labels = jnp.where(dropped.reshape((batch,) + (1,) * (jnp.ndim(labels) - 1)),
                       jnp.asarray(null_label), labels)
    output = apply_fn({"params": params}, x_t, t, labels)
    alpha_bar = schedule.alphas_cumprod[t]
    squared = jnp.square(
        output - target(prediction, x0, eps, alpha_bar.reshape((-1,) + (1,) * (x0.ndim - 1))))
    if weighting == "uniform":
        return jnp.mean(squared)
    per_example = jnp.mean(squared, axis=tuple(range(1, x0.ndim)))
    return jnp.mean(per_example * min_snr_weight(prediction, alpha_bar / (1.0 - alpha_bar),
                                                 min_snr_gamma))
