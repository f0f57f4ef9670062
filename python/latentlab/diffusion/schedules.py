"""Discrete-time noise schedules, as pure functions of their parameters.

A schedule is the sequence ᾱ_t (``alphas_cumprod``) for t = 0 … T-1; x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε.
"""

import jax.numpy as jnp
import numpy as np
from flax import struct

BETA_SCHEDULES = ("linear", "scaled_linear", "cosine")
TIMESTEP_SPACINGS = ("leading", "trailing", "linspace")


@struct.dataclass
class NoiseSchedule:
    """ᾱ_t for every training timestep."""

    alphas_cumprod: jnp.ndarray  # [T] float32, decreasing from ≈1 towards 0

    @property
    def num_timesteps(self) -> int:
        return self.alphas_cumprod.shape[0]


def betas(kind: str, num_timesteps: int, beta_start: float = 1e-4,
          beta_end: float = 2e-2) -> np.ndarray:
    """β_t for ``linear`` (Ho et al. 2020), ``scaled_linear`` (Rombach et al. 2022: linear in
    √β) or ``cosine`` (Nichol & Dhariwal 2021, s = 0.008, β clipped at 0.999)."""
    if kind == "linear":
        return np.linspace(beta_start, beta_end, num_timesteps, dtype=np.float64)
    if kind == "scaled_linear":
        return np.linspace(beta_start ** 0.5, beta_end ** 0.5, num_timesteps,
                           dtype=np.float64) ** 2
    if kind == "cosine":
        s = 0.008
        steps = np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps
        f = np.cos((steps + s) / (1 + s) * np.pi / 2) ** 2
        return np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
    raise ValueError(f"unknown beta schedule {kind!r}; allowed: {', '.join(BETA_SCHEDULES)}")


def make_schedule(kind: str, num_timesteps: int, beta_start: float = 1e-4,
                  beta_end: float = 2e-2) -> NoiseSchedule:
    """The :class:`NoiseSchedule` of a β schedule (ᾱ_t = Π_{s≤t} (1 - β_s), in float64 first)."""
    alphas_cumprod = np.cumprod(1.0 - betas(kind, num_timesteps, beta_start, beta_end))
    return NoiseSchedule(jnp.asarray(alphas_cumprod, dtype=jnp.float32))


def sampling_timesteps(num_timesteps: int, steps: int, spacing: str = "trailing") -> np.ndarray:
    """The decreasing training timesteps a sampler visits, per Lin et al. 2024, Table 2.

    ``trailing`` starts at T-1 (the one that reaches pure noise); ``leading`` starts at
    T - T/steps; ``linspace`` rounds an even spacing of [0, T-1].
    """
    if not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps must be in [1, {num_timesteps}], got {steps}")
    if spacing == "trailing":
        t = np.round(np.arange(num_timesteps, 0, -num_timesteps / steps)) - 1
    elif spacing == "leading":
        t = (np.arange(steps) * (num_timesteps // steps))[::-1]
    elif spacing == "linspace":
        t = np.round(np.linspace(0, num_timesteps - 1, steps))[::-1]
    else:
        raise ValueError(
            f"unknown timestep spacing {spacing!r}; allowed: {', '.join(TIMESTEP_SPACINGS)}")
    return t.astype(np.int32)


def add_noise(schedule: NoiseSchedule, x0, noise, t):
    """x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε for timesteps t [B]; x0, noise: [B, ...]."""
    a = schedule.alphas_cumprod[t].reshape((-1,) + (1,) * (x0.ndim - 1))
    return jnp.sqrt(a) * x0 + jnp.sqrt(1.0 - a) * noise
