"""Every sampler driven by the exact denoiser of Gaussian data, checked against the exact answer.

For data x0 ~ N(μ, Σ) and x = x0 + σ ε, the optimal denoiser is D(x, σ) = μ + Σ(Σ + σ²I)⁻¹(x - μ),
and the probability-flow ODE dx/dσ = (x - D)/σ moves each eigen-direction k of Σ (eigenvalue
λ_k) as (x - μ)_k ∝ √(λ_k + σ²). Every sampler ends with x̂0 = D(x, σ_min), so the exact
reference is D(x_exact(σ_min), σ_min). Computed in float64 so that round-off stays far below the
errors being measured.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from latentlab.diffusion import samplers

MU = np.array([1.0, -0.5, 0.25])
_Q, _ = np.linalg.qr(np.array([[1.0, 0.3, -0.2], [0.1, 1.0, 0.4], [-0.3, 0.2, 1.0]]))
EIGENVALUES = np.array([0.3, 1.0, 2.5])
COV = _Q @ np.diag(EIGENVALUES) @ _Q.T
SIGMA_MIN, SIGMA_MAX = 0.02, 20.0


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def denoise(x, sigma):
    gain = jnp.asarray(COV) @ jnp.linalg.inv(jnp.asarray(COV) + sigma ** 2 * jnp.eye(3))
    return jnp.asarray(MU) + (x - jnp.asarray(MU)) @ gain.T


def exact_flow(x, sigma_from, sigma_to):
    """The probability-flow ODE's exact solution from σ_from to σ_to."""
    y = (np.asarray(x) - MU) @ _Q
    y = y * np.sqrt(EIGENVALUES + sigma_to ** 2) / np.sqrt(EIGENVALUES + sigma_from ** 2)
    return MU + y @ _Q.T


def karras(steps, rho=7.0):
    ramp = np.linspace(0.0, 1.0, steps)
    high, low = SIGMA_MAX ** (1 / rho), SIGMA_MIN ** (1 / rho)
    return np.append((high + ramp * (low - high)) ** rho, 0.0)


def even(steps):
    return np.append(np.linspace(SIGMA_MAX, SIGMA_MIN, steps), 0.0)


def with_small_start(grid):
    """The grid with its first step preceded by three steps 1000× smaller. A multistep method
    starts at a lower order (it has no history yet); tiny start-up steps make that start-up error
    negligible, so that the error measures the method's own order."""
    tiny = 1e-3 * (grid[0] - grid[1])
    return np.concatenate([grid[0] - tiny * np.arange(4), grid[1:]])


X_T = np.random.default_rng(0).normal(size=(16, 3)) * SIGMA_MAX


def error(name, grid, eta=0.0):
    out = samplers.get_sampler(name)(denoise, jnp.asarray(X_T), jnp.asarray(grid),
                                     jax.random.PRNGKey(0), eta=eta)
    reference = denoise(jnp.asarray(exact_flow(X_T, grid[0], grid[-2])), grid[-2])
    return float(jnp.max(jnp.abs(out - reference)))


def slope(name, grid_of, steps):
    errors = [error(name, grid_of(n)) for n in steps]
    return np.polyfit(np.log(steps), np.log(errors), 1)[0], errors


DETERMINISTIC = [name for name in samplers.SAMPLERS if name != "ddpm"]  # at η = 0


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_every_deterministic_sampler_lands_on_the_exact_solution(name):
    tolerance = {1: 0.1, 2: 5e-3, 3: 1e-3, 4: 1e-3}[samplers.record(name).order]
    assert error(name, karras(60)) < tolerance


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_error_falls_with_the_order_of_the_method(name):
    # On Karras's grid (ρ = 7), from 20 to 80 steps (40 to 160 for the fourth order, whose
    # asymptote comes later), the log-log slope of error against steps is -order ± 0.2.
    order = samplers.record(name).order
    steps = [40, 80, 160] if order == 4 else [20, 40, 80]
    measured, errors = slope(name, lambda n: with_small_start(karras(n)), steps)
    assert abs(measured + order) < 0.2, (measured, errors)


def test_ipndm_is_fourth_order_on_even_steps_only():
    # iPNDM's coefficients are Adams–Bashforth's for equal steps: fourth order on an even σ
    # grid, second order on Karras's uneven one (its record's order is the latter, what configs use).
    measured, errors = slope("ipndm", even, [400, 800, 1600])
    assert abs(measured + 4) < 0.25, (measured, errors)
    assert samplers.record("ipndm").order == 2


def test_without_small_start_steps_multistep_methods_keep_their_order_at_practical_steps():
    # What configs actually run: the plain grid, start-up at lower order included.
    for name in ("dpmpp_3m_sde", "unipc"):
        measured, errors = slope(name, karras, [20, 40, 80])
        assert abs(measured + 3) < 0.2, (name, measured, errors)


STOCHASTIC = [("ddpm", 1000), ("euler_ancestral", 1000), ("ddim", 1000),
              ("dpmpp_2m_sde", 200), ("dpmpp_3m_sde", 200)]


@pytest.mark.parametrize("name,steps", STOCHASTIC)
def test_stochastic_samplers_reproduce_the_data_distribution(name, steps):
    # x_T drawn from the exact marginal N(μ, Σ + σ_max² I); η = 1. 5-standard-error bounds:
    # the mean's is √(Σ_ii/n), a covariance entry's √((Σ_ii Σ_jj + Σ_ij²)/n).
    n = 20000
    grid = karras(steps)
    z = np.random.default_rng(1).normal(size=(n, 3))
    x_T = MU + z @ np.linalg.cholesky(COV + grid[0] ** 2 * np.eye(3)).T
    out = np.asarray(samplers.get_sampler(name)(denoise, jnp.asarray(x_T), jnp.asarray(grid),
                                                jax.random.PRNGKey(5), eta=1.0))
    mean_se = np.sqrt(np.diag(COV) / n)
    assert np.all(np.abs(out.mean(axis=0) - MU) < 5 * mean_se), out.mean(axis=0)
    cov_se = np.sqrt((np.outer(np.diag(COV), np.diag(COV)) + COV ** 2) / n)
    assert np.all(np.abs(np.cov(out.T) - COV) < 5 * cov_se), np.cov(out.T)


def test_coarse_ancestral_steps_lose_variance_where_fine_ones_do_not():
    # A known bias of first-order ancestral sampling; the check that the test above can fail.
    n = 20000
    z = np.random.default_rng(2).normal(size=(n, 3))
    variances = []
    for steps in (10, 1000):
        grid = karras(steps)
        x_T = MU + z @ np.linalg.cholesky(COV + grid[0] ** 2 * np.eye(3)).T
        out = samplers.get_sampler("euler_ancestral")(denoise, jnp.asarray(x_T),
                                                      jnp.asarray(grid), jax.random.PRNGKey(3))
        variances.append(float(jnp.trace(jnp.cov(out.T))))
    assert variances[0] < 0.9 * variances[1] and abs(variances[1] - COV.trace()) < 0.1


@pytest.mark.parametrize("name", samplers.USES_ETA)
def test_samplers_with_noise_depend_on_the_key_and_eta(name):
    grid = karras(10)
    run = lambda key, eta: samplers.get_sampler(name)(denoise, jnp.asarray(X_T),
                                                      jnp.asarray(grid), jax.random.PRNGKey(key),
                                                      eta=eta)
    assert jnp.array_equal(run(3, 1.0), run(3, 1.0))
    assert not jnp.array_equal(run(3, 1.0), run(4, 1.0))
    if name != "ddpm":  # DDPM's η is fixed at 1
        assert jnp.array_equal(run(3, 0.0), run(4, 0.0))


def test_ddim_with_eta_zero_is_euler_and_ddpm_is_ddim_with_eta_one():
    grid = jnp.asarray(karras(12))
    run = lambda name, eta: samplers.get_sampler(name)(denoise, jnp.asarray(X_T), grid,
                                                       jax.random.PRNGKey(7), eta=eta)
    np.testing.assert_allclose(run("ddim", 0.0), run("euler", 0.0), rtol=1e-12, atol=1e-12)
    assert jnp.array_equal(run("ddpm", 0.0), run("ddim", 1.0))


@pytest.mark.parametrize("name", samplers.SAMPLERS)
def test_stepwise_equals_fused_bit_for_bit(name):
    grid = jnp.asarray(karras(9))
    key = jax.random.PRNGKey(11)
    eta = samplers.default_eta(name)
    fused = samplers.get_sampler(name)(denoise, jnp.asarray(X_T), grid, key, eta=eta)
    step = jax.jit(lambda state: samplers.get_step(name)(denoise, state, grid, key, eta=eta))
    state = samplers.init_state(jnp.asarray(X_T))
    for _ in range(len(grid) - 1):
        state = step(state)
    assert jnp.array_equal(state.x, fused)
    assert int(state.index) == len(grid) - 1


def test_evaluations_count_heuns_second_call():
    assert samplers.evaluations("heun", 10) == 19
    assert samplers.evaluations("dpmpp_2m", 10) == 10
    calls = []

    def counting(x, sigma):
        jax.debug.callback(lambda: calls.append(1))
        return denoise(x, sigma)

    samplers.get_sampler("heun")(counting, jnp.asarray(X_T), jnp.asarray(karras(10)),
                                 jax.random.PRNGKey(0))
    jax.effects_barrier()
    assert len(calls) == 19


def test_unknown_sampler_names_the_choices():
    with pytest.raises(ValueError, match="allowed: ddpm, ddim, euler, euler_ancestral, heun"):
        samplers.get_sampler("plms")
