import jax.numpy as jnp
import numpy as np
import pytest

from latentlab.diffusion import parameterization, schedules


def test_linear_alphas_cumprod_is_the_product_of_one_minus_beta():
    s = schedules.make_schedule("linear", 1000, 1e-4, 0.02)
    betas = np.linspace(1e-4, 0.02, 1000)
    expected = np.cumprod(1 - betas)
    np.testing.assert_allclose(np.asarray(s.alphas_cumprod), expected, rtol=1e-6)
    # Known value for DDPM's schedule: ᾱ_T ≈ 4.04e-5 (Ho et al. 2020 use it to argue x_T ≈ noise).
    assert float(s.alphas_cumprod[-1]) == pytest.approx(4.035e-5, rel=1e-3)


def test_scaled_linear_is_linear_in_sqrt_beta():
    b = schedules.betas("scaled_linear", 11, 1e-4, 0.04)
    np.testing.assert_allclose(np.diff(np.sqrt(b)), (0.2 - 0.01) / 10, rtol=1e-9)


def test_cosine_schedule_follows_its_closed_form_where_unclipped():
    T, s = 1000, 0.008
    abar = np.cumprod(1 - schedules.betas("cosine", T))
    f = lambda t: np.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2
    t = np.arange(1, T + 1)
    np.testing.assert_allclose(abar[:900], (f(t) / f(0))[:900], rtol=1e-9)


def test_unknown_schedule_names_the_choices():
    with pytest.raises(ValueError, match="allowed: linear, scaled_linear, cosine"):
        schedules.betas("quadratic", 10)


@pytest.mark.parametrize("spacing, expected", [
    ("trailing", [999, 749, 499, 249]),
    ("leading", [750, 500, 250, 0]),
    ("linspace", [999, 666, 333, 0]),
])
def test_sampling_timesteps(spacing, expected):
    assert schedules.sampling_timesteps(1000, 4, spacing).tolist() == expected


def test_add_noise_matches_the_forward_process():
    s = schedules.make_schedule("linear", 100)
    x0 = jnp.ones((2, 3)); eps = jnp.full((2, 3), 2.0); t = jnp.array([0, 99])
    a = np.asarray(s.alphas_cumprod)[[0, 99]][:, None]
    np.testing.assert_allclose(schedules.add_noise(s, x0, eps, t),
                               np.broadcast_to(np.sqrt(a) + 2.0 * np.sqrt(1 - a), (2, 3)),
                               rtol=1e-6)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_parameterizations_invert_their_targets(prediction):
    rng = np.random.default_rng(0)
    x0, eps = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    a = np.array([0.9, 0.5, 0.1, 0.01])[:, None]
    x_t = np.sqrt(a) * x0 + np.sqrt(1 - a) * eps
    out = parameterization.target(prediction, x0, eps, a)
    got_x0, got_eps = parameterization.to_x0_eps(prediction, out, x_t, a)
    # jnp works in float32: 1e-5 is a few ulps after the divisions by √0.01.
    np.testing.assert_allclose(got_x0, x0, atol=1e-5)
    np.testing.assert_allclose(got_eps, eps, atol=1e-5)
