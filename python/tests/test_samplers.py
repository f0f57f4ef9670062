"""DDIM driven by the exact denoiser of Gaussian data, checked against the exact answer.

For data x0 ~ N(μ, s²) the optimal x0-predictor is E[x0 | x_t] = μ + s²√a (x_t - √a μ)/(a s² + 1 - a)
with a = ᾱ_t, and the probability-flow ODE maps x_T to μ + s (x_T - √a_T μ)/√(a_T s² + 1 - a_T).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from latentlab.diffusion import samplers, schedules

MU, S = 1.5, 0.5


def exact_denoiser(schedule):
    def denoise(x_t, t):
        a = schedule.alphas_cumprod[t]
        x0 = MU + S ** 2 * jnp.sqrt(a) * (x_t - jnp.sqrt(a) * MU) / (a * S ** 2 + 1 - a)
        eps = (x_t - jnp.sqrt(a) * x0) / jnp.sqrt(1 - a)
        return x0, eps
    return denoise


def ode_solution(schedule, x_T):
    a = schedule.alphas_cumprod[-1]
    return MU + S * (x_T - jnp.sqrt(a) * MU) / jnp.sqrt(a * S ** 2 + 1 - a)


@pytest.fixture
def schedule():
    return schedules.make_schedule("linear", 1000)


def deterministic_error(schedule, steps):
    x_T = jnp.linspace(-2.0, 2.0, 9)[:, None]
    ts = schedules.sampling_timesteps(1000, steps, "trailing")
    out = samplers.ddim(exact_denoiser(schedule), x_T, schedule, ts, jax.random.PRNGKey(0), eta=0.0)
    return float(jnp.max(jnp.abs(out - ode_solution(schedule, x_T))))


def test_ddim_eta0_converges_to_the_probability_flow_solution(schedule):
    errors = [deterministic_error(schedule, n) for n in (10, 40, 160)]
    assert errors[2] < 2e-2, errors
    assert errors[0] > errors[1] > errors[2], errors
    # First order: error falls about 4x per 4x steps (slope -1 in log-log), within ±0.3.
    slope = np.polyfit(np.log([10, 40, 160]), np.log(errors), 1)[0]
    assert -1.3 < slope < -0.7, (slope, errors)


def test_ddim_eta1_over_all_timesteps_reproduces_the_data_distribution(schedule):
    # η = 1 over all 1000 timesteps is DDPM's ancestral sampler, exact as the step shrinks.
    # Sampling error of the mean: s/√n ≈ 0.0035; of the std: s/√(2n) ≈ 0.0025; 5σ bounds.
    n = 20000
    x_T = jax.random.normal(jax.random.PRNGKey(1), (n, 1))
    stds = []
    for steps in (100, 1000):
        ts = schedules.sampling_timesteps(1000, steps, "trailing")
        out = samplers.ddim(exact_denoiser(schedule), x_T, schedule, ts, jax.random.PRNGKey(2),
                            eta=1.0)
        assert abs(float(jnp.mean(out)) - MU) < 5 * S / np.sqrt(n)
        stds.append(float(jnp.std(out)))
    # Coarse ancestral steps lose variance (they use E[x0 | x_t], not a draw); full steps do not.
    assert stds[0] < stds[1], stds
    assert abs(stds[1] - S) < 5 * S / np.sqrt(2 * n), stds


def test_ddim_stochastic_depends_on_the_key_only(schedule):
    x_T = jnp.zeros((4, 1))
    ts = schedules.sampling_timesteps(1000, 10)
    run = lambda k: samplers.ddim(exact_denoiser(schedule), x_T, schedule, ts, jax.random.PRNGKey(k), eta=1.0)
    assert jnp.array_equal(run(3), run(3))
    assert not jnp.array_equal(run(3), run(4))


def test_guided_denoiser_combines_conditional_and_unconditional():
    schedule = schedules.make_schedule("linear", 10)
    # A fake "network" whose ε is the label itself: guidance w gives ε_∅ + w (ε_c - ε_∅).
    apply_fn = lambda x, t, y: jnp.broadcast_to(y[:, None].astype(jnp.float32), x.shape)
    labels = jnp.array([2, 5]); null = 10
    denoise = samplers.guided_denoiser(apply_fn, "eps", schedule, labels, null, 3.0)
    _, eps = denoise(jnp.zeros((2, 1)), 4)
    np.testing.assert_allclose(eps[:, 0], [10 + 3 * (2 - 10), 10 + 3 * (5 - 10)])


def _solve(schedule, name, steps, x_T):
    ts = schedules.sampling_timesteps(1000, steps, "trailing")
    return samplers.get_sampler(name)(exact_denoiser(schedule), x_T, schedule, ts,
                                      jax.random.PRNGKey(0))


def test_euler_in_sigma_is_ddim_with_eta_zero(schedule):
    x_T = jnp.linspace(-2.0, 2.0, 9)[:, None]
    np.testing.assert_allclose(_solve(schedule, "euler", 25, x_T), _solve(schedule, "ddim", 25, x_T),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["heun", "dpmpp_2m"])
def test_second_order_samplers_beat_euler_and_converge(schedule, name):
    # On this discrete grid the final step to σ = 0 is first order for every sampler, so the
    # asymptotic slope is not the method's order (a continuous-σ grid is issue 3's work); what
    # holds here: far smaller errors than Euler at equal steps, and convergence.
    x_T = jnp.linspace(-2.0, 2.0, 9)[:, None]
    exact = ode_solution(schedule, x_T)
    error = lambda sampler, n: float(jnp.max(jnp.abs(_solve(schedule, sampler, n, x_T) - exact)))
    assert error(name, 40) < error("euler", 40) / 5
    assert error(name, 10) > error(name, 40) and error(name, 40) < 2e-2


def test_ddpm_is_ddim_with_eta_one(schedule):
    x_T = jax.random.normal(jax.random.PRNGKey(4), (16, 1))
    ts = schedules.sampling_timesteps(1000, 10)
    ddpm = samplers.get_sampler("ddpm")(exact_denoiser(schedule), x_T, schedule, ts, jax.random.PRNGKey(5))
    ddim = samplers.ddim(exact_denoiser(schedule), x_T, schedule, ts, jax.random.PRNGKey(5), eta=1.0)
    assert jnp.array_equal(ddpm, ddim)


def test_unknown_sampler_names_the_choices():
    with pytest.raises(ValueError, match="allowed: ddim, ddpm, euler, heun, dpmpp_2m"):
        samplers.get_sampler("plms")
