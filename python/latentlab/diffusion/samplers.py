"""Samplers. Every sampler has one signature::

    sampler(denoise, x_T, schedule, timesteps, key, **options) -> x_0

``denoise(x_t, t)`` returns (x0, ε) predicted at integer timestep t (a scalar) for a batch
x_t [B, ...]; guidance and the model's parameterisation live inside it (see
:func:`guided_denoiser`). The loop runs inside ``lax.scan`` so a whole sampling run is one
jitted call.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from latentlab.diffusion.parameterization import to_x0_eps
from latentlab.diffusion.schedules import NoiseSchedule

Denoiser = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]

SAMPLERS = ("ddim",)


def guided_denoiser(apply_fn, prediction: str, schedule: NoiseSchedule, labels,
                    null_label: int, guidance_scale) -> Denoiser:
    """Wraps a U-Net apply function ``apply_fn(x, t[B], labels[B])`` as a :data:`Denoiser`
    with classifier-free guidance (Ho & Salimans 2022): ε = ε_∅ + w (ε_c - ε_∅).

    ``labels`` [B] int32 and ``guidance_scale`` are traced, so changing them never recompiles.
    The conditional and unconditional passes share one batch of 2B.
    """

    def denoise(x_t, t):
        batch = x_t.shape[0]
        both_x = jnp.concatenate([x_t, x_t], axis=0)
        both_labels = jnp.concatenate([labels, jnp.full_like(labels, null_label)], axis=0)
        out = apply_fn(both_x, jnp.full((2 * batch,), t, jnp.int32), both_labels)
        cond, uncond = jnp.split(out, 2, axis=0)
        guided = uncond + guidance_scale * (cond - uncond)
        return to_x0_eps(prediction, guided, x_t, schedule.alphas_cumprod[t])

    return denoise


def ddim(denoise: Denoiser, x_T, schedule: NoiseSchedule, timesteps, key, eta=0.0):
    """DDIM (Song, Meng & Ermon 2021, eq. 12) with its stochastic term.

    x_{t'} = √ᾱ_{t'} x̂0 + √(1-ᾱ_{t'}-σ²) ε̂ + σ z, σ = η √((1-ᾱ_{t'})/(1-ᾱ_t)) √(1-ᾱ_t/ᾱ_{t'}).
    η = 0 is the deterministic sampler; η = 1 matches DDPM's posterior variance.
    ``timesteps`` [S] int32 decreasing; after the last one the sampler returns x̂0 (ᾱ = 1).
    """
    timesteps = jnp.asarray(timesteps, jnp.int32)
    next_timesteps = jnp.concatenate([timesteps[1:], jnp.array([-1], jnp.int32)])

    def step(x, inputs):
        index, t, t_next = inputs
        x0, eps = denoise(x, t)
        a_t = schedule.alphas_cumprod[t]
        a_next = jnp.where(t_next >= 0, schedule.alphas_cumprod[jnp.maximum(t_next, 0)], 1.0)
        sigma = eta * jnp.sqrt((1.0 - a_next) / (1.0 - a_t)) * jnp.sqrt(1.0 - a_t / a_next)
        noise = jax.random.normal(jax.random.fold_in(key, index), x.shape, x.dtype)
        x_next = (jnp.sqrt(a_next) * x0
                  + jnp.sqrt(jnp.maximum(1.0 - a_next - sigma ** 2, 0.0)) * eps
                  + sigma * noise)
        return x_next, None

    indices = jnp.arange(timesteps.shape[0], dtype=jnp.int32)
    x_0, _ = jax.lax.scan(step, x_T, (indices, timesteps, next_timesteps))
    return x_0


def get_sampler(name: str):
    """The sampler function registered under ``name`` (as configs spell it)."""
    if name == "ddim":
        return ddim
    raise ValueError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLERS)}")
