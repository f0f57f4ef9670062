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


def _alpha_bar(schedule: NoiseSchedule, t):
    """ᾱ_t, with t = -1 meaning "after the last step" (ᾱ = 1, clean data)."""
    return jnp.where(t >= 0, schedule.alphas_cumprod[jnp.maximum(t, 0)], 1.0)


def _sigma(alpha_bar):
    """σ = √((1-ᾱ)/ᾱ): the noise level of x/√ᾱ, where the PF-ODE is dy/dσ = (y - D(y, σ))/σ."""
    return jnp.sqrt((1.0 - alpha_bar) / alpha_bar)


def _neighbours(state: SamplerState, timesteps):
    """(t_prev, t, t_next) around step ``state.index``; -1 past either end."""
    timesteps = jnp.asarray(timesteps, jnp.int32)
    last = timesteps.shape[0] - 1
    i = state.index
    t = timesteps[i]
    t_next = jnp.where(i < last, timesteps[jnp.minimum(i + 1, last)], -1)
    t_prev = jnp.where(i > 0, timesteps[jnp.maximum(i - 1, 0)], -1)
    return t_prev, t, t_next


def _in_sigma(denoise: Denoiser, state: SamplerState, schedule: NoiseSchedule, t, t_next):
    """The state in σ coordinates: (ᾱ_{t'}, x̂0 at t, σ_t, σ_{t'}, y = x_t/√ᾱ_t)."""
    a_t, a_next = _alpha_bar(schedule, t), _alpha_bar(schedule, t_next)
    x0, _ = denoise(state.x, t)
    return a_next, x0, _sigma(a_t), _sigma(a_next), state.x / jnp.sqrt(a_t)


def euler_step(denoise: Denoiser, state: SamplerState, schedule: NoiseSchedule, timesteps, key,
               eta=0.0) -> SamplerState:
    """One Euler step of the probability-flow ODE in σ (Karras et al. 2022, Algorithm 1 without
    its second-order correction): y' = y + (σ' - σ)(y - D)/σ with y = x/√ᾱ. With an
    x0-predicting denoiser this is DDIM with η = 0; it is here under its ODE name."""
    del key, eta
    _, t, t_next = _neighbours(state, timesteps)
    a_next, x0, sigma, sigma_next, y = _in_sigma(denoise, state, schedule, t, t_next)
    y_next = y + (sigma_next - sigma) * (y - x0) / sigma
    return SamplerState(x=y_next * jnp.sqrt(a_next), x0=x0, index=state.index + 1)


def heun_step(denoise: Denoiser, state: SamplerState, schedule: NoiseSchedule, timesteps, key,
              eta=0.0) -> SamplerState:
    """One step of Heun's second-order method (Karras et al. 2022, Algorithm 1): an Euler step,
    then the trapezoidal correction with a second denoiser call at σ'; the final step to σ = 0
    is plain Euler. Two model evaluations per step but the last."""
    del key, eta
    _, t, t_next = _neighbours(state, timesteps)
    a_next, x0, sigma, sigma_next, y = _in_sigma(denoise, state, schedule, t, t_next)
    slope = (y - x0) / sigma
    y_euler = y + (sigma_next - sigma) * slope

    def corrected(_):
        x0_next, _ = denoise(y_euler * jnp.sqrt(a_next), jnp.maximum(t_next, 0))
        slope_next = (y_euler - x0_next) / sigma_next
        return y + (sigma_next - sigma) * 0.5 * (slope + slope_next)

    y_next = jax.lax.cond(t_next >= 0, corrected, lambda _: y_euler, None)
    return SamplerState(x=y_next * jnp.sqrt(a_next), x0=x0, index=state.index + 1)


def dpmpp_2m_step(denoise: Denoiser, state: SamplerState, schedule: NoiseSchedule, timesteps,
                  key, eta=0.0) -> SamplerState:
    """One step of DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2): a second-order multistep
    solver in λ = -log σ that reuses the previous step's x0 prediction (kept in the state).
    The first step, and the last one to σ = 0, are first order."""
    del key, eta
    t_prev, t, t_next = _neighbours(state, timesteps)
    a_next, x0, sigma, sigma_next, y = _in_sigma(denoise, state, schedule, t, t_next)
    lam = -jnp.log(sigma)
    # Where σ' = 0, λ' = ∞: the update is y' = x0, so any finite h works in the formula below.
    lam_next = jnp.where(t_next >= 0, -jnp.log(jnp.maximum(sigma_next, 1e-20)), lam + 1.0)
    h = lam_next - lam
    lam_prev = -jnp.log(_sigma(_alpha_bar(schedule, jnp.maximum(t_prev, 0))))
    r = (lam - lam_prev) / h
    second_order = (t_prev >= 0) & (t_next >= 0)
    x0_mix = jnp.where(second_order,
                       (1.0 + 1.0 / (2.0 * r)) * x0 - (1.0 / (2.0 * r)) * state.x0, x0)
    ratio = jnp.where(t_next >= 0, sigma_next / sigma, 0.0)
    y_next = ratio * y - jnp.expm1(-h) * x0_mix
    y_next = jnp.where(t_next >= 0, y_next, x0)
    return SamplerState(x=y_next * jnp.sqrt(a_next), x0=x0, index=state.index + 1)


def ddpm_step(denoise: Denoiser, state: SamplerState, schedule: NoiseSchedule, timesteps, key,
              eta=1.0) -> SamplerState:
    """One step of ancestral DDPM sampling (Ho et al. 2020, Algorithm 2), written as DDIM with
    η = 1, which draws from the same posterior q(x_{t'} | x_t, x̂0) (Song et al. 2021, §4.1)."""
    del eta
    return ddim_step(denoise, state, schedule, timesteps, key, eta=1.0)


STEPS = {"ddim": ddim_step, "ddpm": ddpm_step, "euler": euler_step, "heun": heun_step,
         "dpmpp_2m": dpmpp_2m_step}
SAMPLERS = tuple(STEPS)


def fused(step):
    """The fused form of a step function: every step inside one ``lax.scan``."""

    def sample(denoise: Denoiser, x_T, schedule: NoiseSchedule, timesteps, key, eta=0.0):
        def body(state, _):
            return step(denoise, state, schedule, timesteps, key, eta=eta), None

        final, _ = jax.lax.scan(body, init_state(x_T), None, length=len(timesteps))
        return final.x

    sample.__doc__ = f"Fused {step.__name__}: " + (step.__doc__ or "")
    return sample


ddim = fused(ddim_step)
ddim.__doc__ = """DDIM, fused: every :func:`ddim_step` inside one ``lax.scan``. η = 0 is
deterministic; η = 1 matches DDPM's posterior variance. ``timesteps`` [S] int32, decreasing."""


def get_sampler(name: str):
    """The fused sampler registered under ``name`` (as configs spell it)."""
    return fused(get_step(name))


def get_step(name: str):
    """The single-step function of the sampler ``name``, for stepwise sampling."""
    if name not in STEPS:
        raise ValueError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLERS)}")
    return STEPS[name]
