"""Samplers. Every sampler has one signature::

    sampler(denoise, x_T, schedule, timesteps, key, **options) -> x_0

``denoise(x_t, t)`` returns (x0, ε) predicted at integer timestep t (a scalar) for a batch
x_t [B, ...]; guidance and the model's parameterisation live inside it (see
:func:`guided_denoiser`). Each sampler is a step function over a :class:`SamplerState`
pytree; the fused form runs every step inside ``lax.scan`` (one jitted call), the stepwise
form calls the same step from outside, so that Java can read and change the latents.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from flax import struct

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


@struct.dataclass
class SamplerState:
    """Where a sampler is between two steps; the same pytree in fused and stepwise mode."""

    x: jax.Array      # [B, ...] float32, the current latents x_t (x_0 after the last step)
    x0: jax.Array     # [B, ...] float32, the denoiser's latest prediction of x_0
    index: jax.Array  # [] int32, steps taken so far


def init_state(x_T) -> SamplerState:
    """The state before the first step: x = x_T, no prediction yet."""
    return SamplerState(x=x_T, x0=jnp.zeros_like(x_T), index=jnp.zeros((), jnp.int32))


def ddim_step(denoise: Denoiser, state: SamplerState, schedule: NoiseSchedule, timesteps, key,
              eta=0.0) -> SamplerState:
    """One DDIM step (Song, Meng & Ermon 2021, eq. 12) from timesteps[index] to the next.

    x_{t'} = √ᾱ_{t'} x̂0 + √(1-ᾱ_{t'}-σ²) ε̂ + σ z, σ = η √((1-ᾱ_{t'})/(1-ᾱ_t)) √(1-ᾱ_t/ᾱ_{t'});
    after the last timestep ᾱ_{t'} = 1 and the step returns x̂0. The noise z of step i is
    drawn from ``fold_in(key, i)``, so a step depends only on its state, not on history.
    """
    timesteps = jnp.asarray(timesteps, jnp.int32)
    i = state.index
    t = timesteps[i]
    t_next = jnp.where(i + 1 < timesteps.shape[0],
                       timesteps[jnp.minimum(i + 1, timesteps.shape[0] - 1)], -1)
    x0, eps = denoise(state.x, t)
    a_t = schedule.alphas_cumprod[t]
    a_next = jnp.where(t_next >= 0, schedule.alphas_cumprod[jnp.maximum(t_next, 0)], 1.0)
    sigma = eta * jnp.sqrt((1.0 - a_next) / (1.0 - a_t)) * jnp.sqrt(1.0 - a_t / a_next)
    noise = jax.random.normal(jax.random.fold_in(key, i), state.x.shape, state.x.dtype)
    x_next = (jnp.sqrt(a_next) * x0
              + jnp.sqrt(jnp.maximum(1.0 - a_next - sigma ** 2, 0.0)) * eps
              + sigma * noise)
    return SamplerState(x=x_next, x0=x0, index=i + 1)


def ddim(denoise: Denoiser, x_T, schedule: NoiseSchedule, timesteps, key, eta=0.0):
    """DDIM, fused: every :func:`ddim_step` inside one ``lax.scan``. η = 0 is deterministic;
    η = 1 matches DDPM's posterior variance. ``timesteps`` [S] int32, decreasing."""
    steps = len(timesteps)

    def body(state, _):
        return ddim_step(denoise, state, schedule, timesteps, key, eta), None

    final, _ = jax.lax.scan(body, init_state(x_T), None, length=steps)
    return final.x


STEPS = {"ddim": ddim_step}


def get_sampler(name: str):
    """The fused sampler registered under ``name`` (as configs spell it)."""
    if name == "ddim":
        return ddim
    raise ValueError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLERS)}")


def get_step(name: str):
    """The single-step function of the sampler ``name``, for stepwise sampling."""
    if name not in STEPS:
        raise ValueError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLERS)}")
    return STEPS[name]
