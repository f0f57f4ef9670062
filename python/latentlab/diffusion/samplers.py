"""Samplers: solvers of the probability-flow ODE or SDE of a diffusion model.

Every sampler works on one σ grid and one denoiser, in the variance-exploding coordinates of
Karras et al. 2022 (EDM): ``x = x0 + σ ε``. A VP model's x_t is ``√ᾱ x`` with
``σ = √((1-ᾱ)/ᾱ)``; :func:`model_denoiser` does that conversion, so samplers never see ᾱ.

- ``denoise(x, σ) -> x̂0`` for a batch x [B, ...] at one noise level σ (a scalar);
- ``sigmas`` [S+1] decreasing, ending at 0 (see :func:`latentlab.diffusion.schedules.sigmas`).

One signature for all::

    step(denoise, state, sigmas, key, eta) -> state       # one step, stepwise
    sampler(denoise, x_T, sigmas, key, eta=None) -> x_0    # fused: every step in a lax.scan

Each step is a pure function of the :class:`SamplerState` pytree, the grid and the key (the
noise of step i is drawn from ``fold_in(key, i)``), so the fused and the stepwise form give the
same bits, and Java may replace ``state.x`` between steps. The last step, to σ = 0, returns
the denoiser's x̂0 for every sampler (as in Karras et al. 2022, Algorithm 1 and 2).

Each sampler is one :class:`Sampler` record in :data:`REGISTRY` (its step, default η, order,
paper); the names, defaults and lookups below are read from it.
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from flax import struct

from latentlab.diffusion.parameterization import to_x0_eps
from latentlab.diffusion.schedules import NoiseSchedule, sigma_to_t

Denoiser = Callable[[jax.Array, jax.Array], jax.Array]

HISTORY = 3  # earlier model outputs a state keeps: enough for fourth-order multistep methods


def model_denoiser(apply_fn, prediction: str, schedule: NoiseSchedule, labels, null_label: int,
                   guidance_scale) -> Denoiser:
    """Wraps a U-Net ``apply_fn(x_t, t[B], labels[B])`` trained on ``schedule`` as a
    :data:`Denoiser` D(x, σ), with classifier-free guidance (Ho & Salimans 2022):
    out = out_∅ + w (out_c - out_∅), on whatever the network predicts (ε, x0 or v).

    The network sees x_t = x/√(1+σ²) at the fractional timestep t(σ) that interpolates the
    schedule's log σ (so σ grids need not hit training timesteps). ``labels`` [B] int32 and
    ``guidance_scale`` are traced: changing them never recompiles. The conditional and
    unconditional passes share one batch of 2B.
    """

    def denoise(x, sigma):
        batch = x.shape[0]
        alpha_bar = 1.0 / (1.0 + sigma ** 2)
        x_t = x * jnp.sqrt(alpha_bar)
        t = jnp.full((2 * batch,), sigma_to_t(schedule, sigma), jnp.float32)
        both_labels = jnp.concatenate([labels, jnp.full_like(labels, null_label)], axis=0)
        out = apply_fn(jnp.concatenate([x_t, x_t], axis=0), t, both_labels)
        cond, uncond = jnp.split(out, 2, axis=0)
        x0, _ = to_x0_eps(prediction, guide(cond, uncond, guidance_scale), x_t, alpha_bar)
        return x0

    return denoise


def guide(cond, uncond, guidance_scale):
    """Classifier-free guidance (Ho & Salimans 2022): out_∅ + w (out_c - out_∅)."""
    return uncond + guidance_scale * (cond - uncond)


def text_denoiser(apply_fn, prediction: str, schedule: NoiseSchedule, context, null_context,
                  guidance_scale) -> Denoiser:
    """:func:`model_denoiser` for a text-conditioned U-Net ``apply_fn(x_t, t[B], context)``:
    ``context`` [B, L, D] holds the prompts' text states and ``null_context`` [B, L, D] the
    negative (or empty) prompts' (or both are pytrees of such [B, ...] arrays, as SDXL's
    states, pooled embeddings and size ids); both passes share one batch of 2B, guided by
    :func:`guide`."""

    def denoise(x, sigma):
        batch = x.shape[0]
        alpha_bar = 1.0 / (1.0 + sigma ** 2)
        x_t = x * jnp.sqrt(alpha_bar)
        t = jnp.full((2 * batch,), sigma_to_t(schedule, sigma), jnp.float32)
        both = jax.tree.map(lambda c, n: jnp.concatenate([c, n], axis=0), context, null_context)
        out = apply_fn(jnp.concatenate([x_t, x_t], axis=0), t, both)
        cond, uncond = jnp.split(out, 2, axis=0)
        x0, _ = to_x0_eps(prediction, guide(cond, uncond, guidance_scale), x_t, alpha_bar)
        return x0

    return denoise


@struct.dataclass
class SamplerState:
    """Where a sampler is between two steps; the same pytree in fused and stepwise mode."""

    x: jax.Array        # [B, ...] float32: the latents x = x0 + σ ε at sigmas[index]
    x0: jax.Array       # [B, ...] float32: the denoiser's latest prediction of x0
    index: jax.Array    # [] int32: steps taken so far
    history: jax.Array  # [HISTORY, B, ...]: earlier model outputs, newest first (what is kept
    #                     depends on the sampler: x̂0 for DPM-Solver++/UniPC, dx/dσ for LMS/iPNDM)


def init_state(x_T) -> SamplerState:
    """The state before the first step: x = x_T, no prediction yet."""
    return SamplerState(x=x_T, x0=jnp.zeros_like(x_T), index=jnp.zeros((), jnp.int32),
                        history=jnp.zeros((HISTORY,) + x_T.shape, x_T.dtype))


def initial_noise(key, shape, sigmas) -> jax.Array:
    """x_T ~ N(0, (1 + σ_max²) I): the VP prior N(0, I) in σ coordinates."""
    return jax.random.normal(key, shape) * jnp.sqrt(1.0 + jnp.asarray(sigmas)[0] ** 2)


class _Step:
    """The grid around step i = state.index: σ_{i-3} … σ_{i+1}, λ = -log σ, and whether this
    is the last step (σ_{i+1} = 0) and how many earlier outputs exist (min(i, HISTORY))."""

    def __init__(self, state: SamplerState, sigmas):
        sigmas = jnp.asarray(sigmas)
        last_index = sigmas.shape[0] - 1
        i = state.index
        at = lambda k: sigmas[jnp.clip(i + k, 0, last_index)]
        self.sigma, self.sigma_next = at(0), at(1)
        self.previous = [at(-k) for k in range(1, HISTORY + 1)]  # σ_{i-1}, σ_{i-2}, σ_{i-3}
        self.last = self.sigma_next <= 0.0
        self.available = jnp.minimum(i, HISTORY)
        # Where σ' = 0, λ' = ∞; a finite stand-in keeps every branch finite (the last step
        # returns x̂0 whatever the formulas below give).
        self.lam = -jnp.log(self.sigma)
        self.lam_next = jnp.where(self.last, self.lam + 1.0,
                                  -jnp.log(jnp.maximum(self.sigma_next, 1e-30)))
        self.h = self.lam_next - self.lam
        self.lam_previous = [-jnp.log(s) for s in self.previous]

    def finish(self, state: SamplerState, x_next, x0, history=None) -> SamplerState:
        x_next = jnp.where(self.last, x0, x_next)
        return SamplerState(x=x_next, x0=x0, index=state.index + 1,
                            history=state.history if history is None else history)


def _push(history, value):
    """History with ``value`` as the newest entry."""
    return jnp.concatenate([value[None], history[:-1]], axis=0)


def _noise(key, state: SamplerState):
    return jax.random.normal(jax.random.fold_in(key, state.index), state.x.shape, state.x.dtype)


# --- first order ---------------------------------------------------------------------------

def euler_step(denoise: Denoiser, state: SamplerState, sigmas, key, eta=0.0) -> SamplerState:
    """Euler's method on the probability-flow ODE dx/dσ = (x - D(x, σ))/σ (Karras et al. 2022,
    Algorithm 1 without its correction). First order, one model evaluation per step."""
    del key, eta
    g = _Step(state, sigmas)
    x0 = denoise(state.x, g.sigma)
    x_next = state.x + (g.sigma_next - g.sigma) * (state.x - x0) / g.sigma
    return g.finish(state, x_next, x0)


def _ancestral(denoise: Denoiser, state: SamplerState, sigmas, key, eta) -> SamplerState:
    """Denoise, step deterministically down to σ_down, then add fresh noise of size σ_up, with
    σ_up = min(σ', η σ'√(σ² - σ'²)/σ), σ_down = √(σ'² - σ_up²)."""
    g = _Step(state, sigmas)
    x0 = denoise(state.x, g.sigma)
    s, s_next = g.sigma, g.sigma_next
    sigma_up = jnp.minimum(s_next, eta * s_next * jnp.sqrt(jnp.maximum(s ** 2 - s_next ** 2, 0.0)) / s)
    sigma_down = jnp.sqrt(jnp.maximum(s_next ** 2 - sigma_up ** 2, 0.0))
    x_next = x0 + sigma_down * (state.x - x0) / s + sigma_up * _noise(key, state)
    return g.finish(state, x_next, x0)


def ddim_step(denoise: Denoiser, state: SamplerState, sigmas, key, eta=0.0) -> SamplerState:
    """DDIM (Song, Meng & Ermon 2021, eq. 12): x_{t'} = √ᾱ' x̂0 + √(1-ᾱ'-s²) ε̂ + s z with
    s = η √((1-ᾱ')/(1-ᾱ)) √(1-ᾱ/ᾱ'). Divided by √ᾱ' this is exactly the ancestral step with
    σ_up = s/√ᾱ' = η σ'√(σ² - σ'²)/σ; η = 0 is deterministic (and equals Euler)."""
    return _ancestral(denoise, state, sigmas, key, eta)


def ddpm_step(denoise: Denoiser, state: SamplerState, sigmas, key, eta=1.0) -> SamplerState:
    """Ancestral DDPM (Ho et al. 2020, Algorithm 2): a draw from the posterior
    q(x_{t'} | x_t, x̂0), which is DDIM with η = 1 (Song et al. 2021, §4.1); η is fixed."""
    del eta
    return _ancestral(denoise, state, sigmas, key, 1.0)


def euler_ancestral_step(denoise: Denoiser, state: SamplerState, sigmas, key,
                         eta=1.0) -> SamplerState:
    """Euler ancestral (Karras et al. 2022's ancestral Euler; Song et al. 2021 reverse SDE):
    an Euler step to σ_down, then noise σ_up. The same update as DDIM with this η; here under
    its SDE name with η = 1 by default."""
    return _ancestral(denoise, state, sigmas, key, eta)


# --- second order, single step ------------------------------------------------------------

def heun_step(denoise: Denoiser, state: SamplerState, sigmas, key, eta=0.0) -> SamplerState:
    """Heun's method (Karras et al. 2022, Algorithm 1): an Euler step, then the trapezoidal
    correction with a second evaluation at σ'. Second order; two evaluations per step except
    the last (2S - 1 for S steps)."""
    del key, eta
    g = _Step(state, sigmas)
    x0 = denoise(state.x, g.sigma)
    slope = (state.x - x0) / g.sigma
    x_euler = state.x + (g.sigma_next - g.sigma) * slope

    def corrected(_):
        sigma_next = jnp.maximum(g.sigma_next, 1e-30)
        slope_next = (x_euler - denoise(x_euler, sigma_next)) / sigma_next
        return state.x + (g.sigma_next - g.sigma) * 0.5 * (slope + slope_next)

    x_next = jax.lax.cond(g.last, lambda _: x_euler, corrected, None)
    return g.finish(state, x_next, x0)


# --- DPM-Solver++ (multistep, in λ = -log σ) ------------------------------------------------

def dpmpp_2m_step(denoise: Denoiser, state: SamplerState, sigmas, key, eta=0.0) -> SamplerState:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2): x' = (σ'/σ) x - expm1(-h) D with
    D = (1 + 1/2r) x̂0 - (1/2r) x̂0_prev, h = λ' - λ, r = h_prev/h. Second order; the first step
    is first order. Keeps the previous x̂0 in the history."""
    del key, eta
    g = _Step(state, sigmas)
    x0 = denoise(state.x, g.sigma)
    r = (g.lam - g.lam_previous[0]) / g.h
    mixed = jnp.where(g.available >= 1,
                      (1.0 + 0.5 / r) * x0 - (0.5 / r) * state.history[0], x0)
    x_next = (g.sigma_next / g.sigma) * state.x - jnp.expm1(-g.h) * mixed
    return g.finish(state, x_next, x0, _push(state.history, x0))


def _dpmpp_sde(denoise: Denoiser, state: SamplerState, sigmas, key, eta, order: int):
    """DPM-Solver++ for the SDE (Lu et al. 2022, §5 and Appendix; η = 0 gives the ODE solver),
    multistep of the given order, with the exact exponential integrals:

    x' = (σ'/σ) e^{-ηh} x + c₁ x̂0 + c₂/(1+η) x̂0' + c₃/(1+η)² x̂0'' + σ' √(1 - e^{-2ηh}) z

    where H = (1+η) h, c₁ = 1 - e^{-H}, c₂ = H - c₁, c₃ = H²/2 - c₂ (the integrals of
    e^{u-H} uᵏ/k! over [0, H]) and x̂0', x̂0'' are derivatives in λ of the polynomial through
    the current and earlier x̂0 (Newton divided differences).
    """
    g = _Step(state, sigmas)
    x0 = denoise(state.x, g.sigma)
    hist = state.history
    h1 = g.lam - g.lam_previous[0]
    h2 = g.lam_previous[0] - g.lam_previous[1]
    f01 = (x0 - hist[0]) / h1
    f12 = (hist[0] - hist[1]) / h2
    f012 = (f01 - f12) / (h1 + h2)
    use_first = g.available >= 1
    use_second = (g.available >= 2) & (order >= 3)
    d1 = jnp.where(use_first, f01 + jnp.where(use_second, h1 * f012, 0.0), 0.0)
    d2 = jnp.where(use_second, 2.0 * f012, 0.0)
    big_h = (1.0 + eta) * g.h
    c1 = -jnp.expm1(-big_h)
    c2 = big_h - c1
    c3 = 0.5 * big_h ** 2 - c2
    x_next = ((g.sigma_next / g.sigma) * jnp.exp(-eta * g.h) * state.x + c1 * x0
              + c2 / (1.0 + eta) * d1 + c3 / (1.0 + eta) ** 2 * d2
              + g.sigma_next * jnp.sqrt(-jnp.expm1(-2.0 * eta * g.h)) * _noise(key, state))
    return g.finish(state, x_next, x0, _push(hist, x0))


def dpmpp_2m_sde_step(denoise: Denoiser, state: SamplerState, sigmas, key,
                      eta=1.0) -> SamplerState:
    """DPM-Solver++(2M) SDE (Lu et al. 2022): second-order multistep for the reverse SDE; see
    :func:`_dpmpp_sde`. η = 1 is the full SDE, η = 0 the ODE."""
    return _dpmpp_sde(denoise, state, sigmas, key, eta, order=2)


def dpmpp_3m_sde_step(denoise: Denoiser, state: SamplerState, sigmas, key,
                      eta=1.0) -> SamplerState:
    """DPM-Solver++(3M) SDE: third-order multistep (two earlier x̂0) for the reverse SDE, the
    3M extension of Lu et al. 2022; see :func:`_dpmpp_sde`. η = 0 is the third-order ODE
    solver."""
    return _dpmpp_sde(denoise, state, sigmas, key, eta, order=3)


# --- UniPC ----------------------------------------------------------------------------------

def _unipc_coefficients(h, ratios, count: int):
    """UniPC's ρ (Zhao et al. 2023, Algorithm 2, data prediction, B(h) = e^{-h} - 1): solves
    Σ_m ρ_m r_m^{k-1} = b_k for k = 1..K, K = len(ratios), b_k = k! φ_{k+1}(-h) h / B(h) as the
    recursion of the paper computes it; ``ratios`` r_m = (λ_m - λ)/h (the corrector's include
    r = 1, this step's new evaluation). Only the first ``count`` ratios are used (traced count, static size)."""
    size = len(ratios)
    hh = -h
    b_h = jnp.expm1(hh)
    h_phi = jnp.expm1(hh) / hh - 1.0
    factorial = 1.0
    b = []
    for k in range(1, size + 1):
        b.append(h_phi * factorial / b_h)
        factorial *= k + 1
        h_phi = h_phi / hh - 1.0 / factorial
    rows = [jnp.stack([r ** (k - 1) for r in ratios]) for k in range(1, size + 1)]
    matrix, rhs = jnp.stack(rows), jnp.stack(b)
    # Unused unknowns (index >= count) get the identity row/column and a zero right-hand side.
    used = jnp.arange(size) < count
    both = used[:, None] & used[None, :]
    matrix = jnp.where(both, matrix, jnp.eye(size, dtype=matrix.dtype))
    rhs = jnp.where(used, rhs, 0.0)
    return jnp.linalg.solve(matrix, rhs), b_h


def unipc_step(denoise: Denoiser, state: SamplerState, sigmas, key, eta=0.0) -> SamplerState:
    """UniPC-2 (Zhao et al. 2023) with B(h) = e^{-h} - 1 in data prediction: the corrector UniC
    refines the latents the last step predicted, with this step's evaluation (no extra
    evaluation), then the predictor UniP-2 steps on. Third order, one evaluation per step.

    The correction is applied as a difference to ``state.x``, so latents that Java replaced
    between steps are corrected, not overwritten. History: x̂0 of the two earlier steps.
    """
    del key, eta
    g = _Step(state, sigmas)
    x0 = denoise(state.x, g.sigma)
    hist = state.history

    # Corrector for the step (i-1 → i) that produced state.x: base x̂0_{i-1}, its own history
    # x̂0_{i-2} and this step's x̂0 (ratio 1).
    h_prev = g.lam - g.lam_previous[0]
    r_back = (g.lam_previous[1] - g.lam_previous[0]) / h_prev
    has_back = g.available >= 2
    back = jnp.where(has_back, (hist[1] - hist[0]) / r_back, 0.0)
    rho_c, bh_prev = _unipc_coefficients(h_prev, [jnp.ones_like(r_back), r_back],
                                         jnp.where(has_back, 2, 1))
    rho_c_new, rho_c_back = rho_c[0], rho_c[1]
    rho_p_prev, _ = _unipc_coefficients(h_prev, [r_back], jnp.where(has_back, 1, 0))
    correction = -bh_prev * (rho_c_back * back + rho_c_new * (x0 - hist[0])
                             - rho_p_prev[0] * back)
    x = state.x + jnp.where(g.available >= 1, correction, 0.0)

    # Predictor (i → i+1) from the corrected x, with x̂0_i and x̂0_{i-1}.
    r1 = (g.lam_previous[0] - g.lam) / g.h
    has_one = g.available >= 1
    d1 = jnp.where(has_one, (hist[0] - x0) / r1, 0.0)
    rho_p, b_h = _unipc_coefficients(g.h, [r1], jnp.where(has_one, 1, 0))
    x_next = (g.sigma_next / g.sigma) * x - jnp.expm1(-g.h) * x0 - b_h * rho_p[0] * d1
    return g.finish(state, x_next, x0, _push(hist, x0))


# --- linear multistep in σ ------------------------------------------------------------------

def _lagrange_integrals(nodes, count, a, b):
    """∫_a^b ℓ_j(s) ds for the Lagrange basis through the first ``count`` of ``nodes``
    (traced count; unused bases give 0). Three-point Gauss–Legendre is exact for the degree ≤ 3
    polynomials of up to four nodes."""
    size = len(nodes)
    dtype = jnp.result_type(a)
    points = jnp.array([-0.7745966692414834, 0.0, 0.7745966692414834], dtype)
    weights = jnp.array([5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0], dtype)
    s = 0.5 * (b - a) * points + 0.5 * (a + b)
    out = []
    for j in range(size):
        basis = jnp.ones_like(s)
        for m in range(size):
            if m == j:
                continue
            use = m < count
            denominator = jnp.where(use, nodes[j] - nodes[m], 1.0)
            basis = basis * jnp.where(use, (s - nodes[m]) / denominator, 1.0)
        integral = 0.5 * (b - a) * jnp.sum(weights * basis)
        out.append(jnp.where(j < count, integral, 0.0))
    return out


def lms_step(denoise: Denoiser, state: SamplerState, sigmas, key, eta=0.0) -> SamplerState:
    """Linear multistep in σ (the Adams–Bashforth family on the grid's own, uneven steps, as
    Karras et al. 2022 call LMS): x' = x + Σ_j c_j d_{i-j}, d = (x - x̂0)/σ, c_j = ∫_σ^{σ'} of
    the Lagrange polynomial through the last four σ. Fourth order; history: earlier d."""
    del key, eta
    g = _Step(state, sigmas)
    x0 = denoise(state.x, g.sigma)
    d = (state.x - x0) / g.sigma
    nodes = [g.sigma] + g.previous
    coeffs = _lagrange_integrals(nodes, g.available + 1, g.sigma, g.sigma_next)
    derivatives = [d] + [state.history[k] for k in range(HISTORY)]
    x_next = state.x + sum(c * dk for c, dk in zip(coeffs, derivatives))
    return g.finish(state, x_next, x0, _push(state.history, d))


_AB = ((1.0,), (1.5, -0.5), (23 / 12, -16 / 12, 5 / 12), (55 / 24, -59 / 24, 37 / 24, -9 / 24))


def ipndm_step(denoise: Denoiser, state: SamplerState, sigmas, key, eta=0.0) -> SamplerState:
    """Improved PNDM (Zhang & Chen 2023, DEIS §4, "iPNDM"): x' = x + (σ' - σ) Σ_j a_j d_{i-j}
    with the fixed Adams–Bashforth coefficients of order 1, 2, 3, then 4 as history fills (the
    lower-order warm start that replaces PNDM's Runge–Kutta start). One evaluation per step."""
    del key, eta
    g = _Step(state, sigmas)
    x0 = denoise(state.x, g.sigma)
    d = (state.x - x0) / g.sigma
    derivatives = [d] + [state.history[k] for k in range(HISTORY)]
    combos = [sum(a * dk for a, dk in zip(row, derivatives)) for row in _AB]
    slope = jnp.stack(combos)[g.available]
    x_next = state.x + (g.sigma_next - g.sigma) * slope
    return g.finish(state, x_next, x0, _push(state.history, d))


@dataclasses.dataclass(frozen=True)
class Sampler:
    """Everything LatentLab knows about one sampler, in one place."""

    name: str           # as configs spell it
    step: Callable      # step(denoise, state, sigmas, key, eta) -> state, one step
    eta: float | None   # η when a config leaves it out (the noise the sampler is defined
    #                     with), or None where η does not change its output
    order: int          # convergence order of the deterministic form (η = 0) on Karras's
    #                     grid, as the tests measure it
    paper: str          # what it implements (details in the step's docstring)
    evaluations_per_step: int = 1  # model evaluations of a step before the last


REGISTRY: dict[str, Sampler] = {s.name: s for s in (
    Sampler("ddpm", ddpm_step, 1.0, 1, "Ho et al. 2020, Algorithm 2"),
    Sampler("ddim", ddim_step, 0.0, 1, "Song, Meng & Ermon 2021, eq. 12"),
    Sampler("euler", euler_step, None, 1, "Karras et al. 2022, Algorithm 1 (Euler)"),
    Sampler("euler_ancestral", euler_ancestral_step, 1.0, 1, "Karras et al. 2022, ancestral"),
    Sampler("heun", heun_step, None, 2, "Karras et al. 2022, Algorithm 1",
            evaluations_per_step=2),
    Sampler("dpmpp_2m", dpmpp_2m_step, None, 2, "Lu et al. 2022, Algorithm 2"),
    Sampler("dpmpp_2m_sde", dpmpp_2m_sde_step, 1.0, 2, "Lu et al. 2022, SDE solver"),
    Sampler("dpmpp_3m_sde", dpmpp_3m_sde_step, 1.0, 3, "Lu et al. 2022, 3M extension"),
    Sampler("unipc", unipc_step, None, 3, "Zhao et al. 2023, UniPC-2"),
    # iPNDM's fixed coefficients are for equal steps: fourth order on an even grid, second
    # on Karras's.
    Sampler("ipndm", ipndm_step, None, 2, "Zhang & Chen 2023, iPNDM"),
    Sampler("lms", lms_step, None, 4, "Karras et al. 2022, linear multistep"),
)}
SAMPLERS = tuple(REGISTRY)
# Samplers whose output depends on η (and then on the key).
USES_ETA = tuple(name for name, s in REGISTRY.items() if s.eta is not None)


def record(name: str) -> Sampler:
    """The record of the sampler ``name``.

    Raises:
      ValueError: for an unknown name, listing the known ones.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLERS)}")
    return REGISTRY[name]


def default_eta(name: str) -> float:
    """The η a sampler uses when none is given: its own, or 0 where η changes nothing."""
    eta = record(name).eta
    return 0.0 if eta is None else eta


def eta_or_default(name: str, eta):
    """``eta``, or the sampler's own (:func:`default_eta`) where it is None: the one rule
    for "η left out", which config resolution, sampling and scoring all apply."""
    return default_eta(name) if eta is None else eta


def evaluations(name: str, steps: int) -> int:
    """Model evaluations (NFE) of ``steps`` steps: Heun's 2S - 1 (the last step, to σ = 0,
    evaluates once), everyone else's S."""
    per_step = record(name).evaluations_per_step
    return per_step * steps - (per_step - 1)


def fused(step):
    """The fused form of a step function: every step inside one ``lax.scan``."""

    def sample(denoise: Denoiser, x_T, sigmas, key, eta=0.0):
        def body(state, _):
            return step(denoise, state, sigmas, key, eta=eta), None

        final, _ = jax.lax.scan(body, init_state(x_T), None, length=len(sigmas) - 1)
        return final.x

    sample.__doc__ = f"Fused {step.__name__}: " + (step.__doc__ or "")
    return sample


def get_sampler(name: str):
    """The fused sampler registered under ``name`` (as configs spell it)."""
    return fused(get_step(name))


def get_step(name: str):
    """The single-step function of the sampler ``name``, for stepwise sampling."""
    return record(name).step
