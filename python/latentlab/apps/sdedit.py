"""Starting a sampler part-way: encode images, noise their latents to some σ, and sample from
there back to σ = 0 (SDEdit, Meng et al. 2022, run in the latent space as Rombach et al. 2022
do). Denoising, inpainting and anomaly scores are built on it.

All sampling here is unconditional (the U-Net's null label, guidance 0): the class of an image
to restore or score is unknown.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from latentlab import sampling
from latentlab.checkpoint import LatentDiffusionModel
from latentlab.diffusion import schedules
from latentlab.models import VAE

DEFAULT_SAMPLER = "ddim"
DEFAULT_STEPS = 20


@partial(jax.jit, static_argnames=("vae",))
def _encode(vae, params, latent_scale, images):
    return vae.apply({"params": params}, images, method=VAE.encode).mean * latent_scale


def encode(model: LatentDiffusionModel, images, batch_size: int = 500) -> jax.Array:
    """Images [N, H, W, C] in [0, 1] → the posterior means in the U-Net's scaled latent space,
    [N, h, w, c]."""
    images = np.asarray(images, np.float32)
    return jnp.concatenate([
        _encode(model.vae, model.vae_params, jnp.float32(model.latent_scale),
                jnp.asarray(images[i:i + batch_size]))
        for i in range(0, len(images), batch_size)])


def decode(model: LatentDiffusionModel, latents, batch_size: int = 500) -> np.ndarray:
    """Scaled latents [N, h, w, c] → images [N, H, W, C] in [0, 1], as numpy."""
    return np.concatenate([np.asarray(sampling.decode(model, latents[i:i + batch_size]))
                           for i in range(0, len(latents), batch_size)])


def sigma_min(model: LatentDiffusionModel) -> float:
    """The smallest σ the model was trained at (its schedule's σ at t = 0)."""
    return float(np.exp(np.asarray(schedules.log_sigmas(model.schedule))[0]))


def sigma_of_timestep(model: LatentDiffusionModel, t: int) -> float:
    """σ of training timestep t."""
    table = np.exp(np.asarray(schedules.log_sigmas(model.schedule), np.float64))
    if not 0 <= t < len(table):
        raise ValueError(f"timestep must be in [0, {len(table)}), got {t}")
    return float(table[t])


def partial_sigmas(model: LatentDiffusionModel, sigma_start: float, steps: int) -> np.ndarray:
    """The σ grid from ``sigma_start`` down to 0: Karras's spacing over [σ_min, σ_start] with
    ``steps`` levels, or the single step [σ_start, 0] when σ_start is at or below σ_min."""
    low = sigma_min(model)
    if sigma_start <= low * (1 + 1e-6):
        return np.asarray([sigma_start, 0.0], np.float32)
    return schedules.sigmas(model.schedule, steps, "karras", schedules.DEFAULT_RHO,
                            sigma_max=float(sigma_start))


def regenerate(model: LatentDiffusionModel, latents, sigma_start: float, key, *,
               steps: int = DEFAULT_STEPS, sampler: str = DEFAULT_SAMPLER,
               batch_size: int = 500) -> jax.Array:
    """SDEdit: x = latents + σ_start ε, then the sampler from σ_start to 0. Returns the final
    latents [N, h, w, c]; σ_start = 0 returns ``latents`` unchanged. ``key`` draws ε (row i's
    noise depends on the key and i only, not on the batch size)."""
    latents = jnp.asarray(latents)
    if sigma_start < 0:
        raise ValueError(f"sigma_start must be >= 0, got {sigma_start}")
    if sigma_start == 0:
        return latents
    sigmas = jnp.asarray(partial_sigmas(model, sigma_start, steps))
    noise_key, sampler_key = jax.random.split(key)
    out = []
    for start in range(0, latents.shape[0], batch_size):
        chunk = latents[start:start + batch_size]
        rows = jnp.arange(start, start + chunk.shape[0])
        eps = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(noise_key, i),
                                                   chunk.shape[1:]))(rows)
        labels = jnp.full((chunk.shape[0],), model.unet.null_label, jnp.int32)
        out.append(sampling.sample_from(model, chunk + sigma_start * eps, sigmas, labels=labels,
                                        key=jax.random.fold_in(sampler_key, start),
                                        sampler=sampler))
    return jnp.concatenate(out)
