"""Noise schedules and the σ grids samplers walk, as pure functions of their parameters.

A schedule is the sequence ᾱ_t (``alphas_cumprod``) for t = 0 … T-1; x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε.
The same noise level has three names: ᾱ, σ = √((1-ᾱ)/ᾱ) (the noise of x_t/√ᾱ, Karras et al.
2022) and the log-SNR λ = log(ᾱ/(1-ᾱ)) = -2 log σ (Kingma et al. 2021).
"""

import jax.numpy as jnp
import numpy as np
from flax import struct

BETA_SCHEDULES = ("linear", "scaled_linear", "cosine")
TIMESTEP_SPACINGS = ("leading", "trailing", "linspace")
SIGMA_SPACINGS = ("karras", "exponential", "polyexponential")
SPACINGS = TIMESTEP_SPACINGS + SIGMA_SPACINGS
# The σ grid when a config or call names none (Karras et al. 2022, eq. 5, with their ρ).
DEFAULT_SPACING = "karras"
DEFAULT_RHO = 7.0


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


def sampling_timesteps(num_timesteps: int, steps: int, spacing: str = "trailing",
                       steps_offset: int = 0) -> np.ndarray:
    """The decreasing training timesteps a sampler visits, per Lin et al. 2024, Table 2.

    ``trailing`` starts at T-1 (the one that reaches pure noise); ``leading`` starts at
    T - T/steps, shifted up by ``steps_offset`` (diffusers' scheduler key; Stable Diffusion's
    configs set 1); ``linspace`` rounds an even spacing of [0, T-1].
    """
    if not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps must be in [1, {num_timesteps}], got {steps}")
    if spacing == "trailing":
        t = np.round(np.arange(num_timesteps, 0, -num_timesteps / steps)) - 1
    elif spacing == "leading":
        t = (np.arange(steps) * (num_timesteps // steps))[::-1] + steps_offset
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


# --- conversions between ᾱ, σ and log-SNR ----------------------------------------------------

def sigma_from_alpha_bar(alpha_bar):
    """σ = √((1-ᾱ)/ᾱ)."""
    return jnp.sqrt((1.0 - alpha_bar) / alpha_bar)


def alpha_bar_from_sigma(sigma):
    """ᾱ = 1/(1+σ²)."""
    return 1.0 / (1.0 + sigma ** 2)


def log_snr_from_alpha_bar(alpha_bar):
    """λ = log(ᾱ/(1-ᾱ))."""
    return jnp.log(alpha_bar) - jnp.log1p(-alpha_bar)


def alpha_bar_from_log_snr(log_snr):
    """ᾱ = sigmoid(λ)."""
    return 1.0 / (1.0 + jnp.exp(-log_snr))


def sigma_from_log_snr(log_snr):
    """σ = exp(-λ/2)."""
    return jnp.exp(-0.5 * log_snr)


def log_snr_from_sigma(sigma):
    """λ = -2 log σ."""
    return -2.0 * jnp.log(sigma)


def log_sigmas(schedule: NoiseSchedule):
    """log σ_t for every training timestep, increasing in t. [T] float32"""
    a = schedule.alphas_cumprod
    return 0.5 * (jnp.log1p(-a) - jnp.log(a))


def sigma_to_t(schedule: NoiseSchedule, sigma):
    """The fractional timestep of σ: linear interpolation of t in log σ between the training
    timesteps, clamped to [0, T-1]. Exact (an integer) at every training timestep's σ."""
    table = log_sigmas(schedule)
    return jnp.interp(jnp.log(sigma), table, jnp.arange(table.shape[0], dtype=jnp.float32))


def sigmas(schedule: NoiseSchedule, steps: int, spacing: str = DEFAULT_SPACING,
           rho: float = DEFAULT_RHO, sigma_min: float | None = None, sigma_max: float | None = None) -> np.ndarray:
    """The decreasing σ grid of a sampler: ``steps`` noise levels and a final 0. [steps+1]

    Timestep spacings (``leading``, ``trailing``, ``linspace``) take σ at the training timesteps
    of :func:`sampling_timesteps`. σ spacings span [σ_min, σ_max] (by default the schedule's
    σ at t = 0 and t = T-1): ``karras`` is uniform in σ^(1/ρ) (Karras et al. 2022, eq. 5),
    ``exponential`` uniform in log σ, ``polyexponential`` uniform in log σ after warping the
    ramp by ^ρ (ρ = 1 is exponential; larger ρ spends more steps at low noise).
    """
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    table = np.exp(np.asarray(log_sigmas(schedule), dtype=np.float64))
    if spacing in TIMESTEP_SPACINGS:
        grid = table[sampling_timesteps(schedule.num_timesteps, steps, spacing)]
    elif spacing in SIGMA_SPACINGS:
        low = float(table[0] if sigma_min is None else sigma_min)
        high = float(table[-1] if sigma_max is None else sigma_max)
        if not 0 < low < high:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {low} and {high}")
        if not rho > 0:
            raise ValueError(f"rho must be positive, got {rho}")
        ramp = np.linspace(0.0, 1.0, steps) if steps > 1 else np.zeros(1)
        if spacing == "karras":
            grid = (high ** (1 / rho) + ramp * (low ** (1 / rho) - high ** (1 / rho))) ** rho
        elif spacing == "exponential":
            grid = np.exp(np.log(high) + ramp * (np.log(low) - np.log(high)))
        else:
            grid = np.exp(np.log(low) + (1.0 - ramp) ** rho * (np.log(high) - np.log(low)))
    else:
        raise ValueError(f"unknown spacing {spacing!r}; allowed: {', '.join(SPACINGS)}")
    return np.append(grid, 0.0).astype(np.float32)
