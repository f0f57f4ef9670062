import jax
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


def test_alpha_sigma_and_log_snr_convert_both_ways():
    a = jnp.array([0.999, 0.5, 0.01, 1e-4])
    sigma = schedules.sigma_from_alpha_bar(a)
    lam = schedules.log_snr_from_alpha_bar(a)
    np.testing.assert_allclose(schedules.alpha_bar_from_sigma(sigma), a, rtol=1e-5)
    np.testing.assert_allclose(schedules.alpha_bar_from_log_snr(lam), a, rtol=1e-5)
    np.testing.assert_allclose(schedules.sigma_from_log_snr(lam), sigma, rtol=1e-5)
    np.testing.assert_allclose(schedules.log_snr_from_sigma(sigma), lam, rtol=1e-5, atol=1e-5)
    # ᾱ = 1/2 is SNR 1: σ = 1, λ = 0.
    assert float(sigma[1]) == pytest.approx(1.0) and float(lam[1]) == pytest.approx(0.0, abs=1e-7)


def test_sigma_to_t_is_exact_at_training_timesteps_and_interpolates_log_sigma_between():
    s = schedules.make_schedule("linear", 1000)
    table = np.asarray(schedules.log_sigmas(s))
    for t in (0, 1, 500, 998, 999):
        assert float(schedules.sigma_to_t(s, np.exp(table[t]))) == pytest.approx(t, abs=1e-3)
    halfway = np.exp(0.5 * (table[10] + table[11]))
    assert float(schedules.sigma_to_t(s, halfway)) == pytest.approx(10.5, abs=1e-3)
    # Clamped beyond the schedule's ends.
    assert float(schedules.sigma_to_t(s, 1e-6)) == 0.0
    assert float(schedules.sigma_to_t(s, 1e6)) == 999.0


@pytest.mark.parametrize("rho", [3.0, 7.0])
def test_karras_grid_is_uniform_in_sigma_to_the_one_over_rho(rho):
    s = schedules.make_schedule("linear", 1000)
    grid = schedules.sigmas(s, 8, "karras", rho=rho)
    assert len(grid) == 9 and grid[-1] == 0.0
    table = np.exp(np.asarray(schedules.log_sigmas(s), np.float64))
    assert grid[0] == pytest.approx(table[-1], rel=1e-5)
    assert grid[-2] == pytest.approx(table[0], rel=1e-5)
    steps = np.diff(grid[:-1].astype(np.float64) ** (1 / rho))
    np.testing.assert_allclose(steps, steps[0], rtol=1e-4)


def test_exponential_grid_is_uniform_in_log_sigma_and_polyexponential_with_rho_one_equals_it():
    s = schedules.make_schedule("linear", 1000)
    grid = schedules.sigmas(s, 6, "exponential", sigma_min=0.1, sigma_max=10.0)
    np.testing.assert_allclose(grid[:-1], np.geomspace(10.0, 0.1, 6), rtol=1e-5)
    poly = schedules.sigmas(s, 6, "polyexponential", rho=1.0, sigma_min=0.1, sigma_max=10.0)
    np.testing.assert_allclose(poly, grid, rtol=1e-5)
    # ρ > 1 spends more steps at low noise: a lower middle.
    steeper = schedules.sigmas(s, 6, "polyexponential", rho=2.0, sigma_min=0.1, sigma_max=10.0)
    assert steeper[3] < grid[3] and steeper[0] == pytest.approx(10.0)


def test_timestep_spacings_take_sigma_at_their_timesteps():
    s = schedules.make_schedule("linear", 1000)
    grid = schedules.sigmas(s, 4, "trailing")
    table = np.exp(np.asarray(schedules.log_sigmas(s), np.float64))
    np.testing.assert_allclose(grid[:-1], table[[999, 749, 499, 249]], rtol=1e-5)


def test_bad_grids_are_refused_with_the_allowed_values():
    s = schedules.make_schedule("linear", 100)
    with pytest.raises(ValueError, match="allowed: leading, trailing, linspace, karras"):
        schedules.sigmas(s, 4, "cosine")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        schedules.sigmas(s, 0, "karras")
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        schedules.sigmas(s, 4, "karras", sigma_min=5.0, sigma_max=1.0)


def test_model_denoiser_converts_to_vp_and_guides():
    from latentlab.diffusion import samplers
    s = schedules.make_schedule("linear", 1000)
    seen = {}

    def apply_fn(x_t, t, labels):
        # A fake "network" whose ε is the label: guidance w gives ε_∅ + w (ε_c - ε_∅).
        seen["x_t"], seen["t"] = x_t, t
        return jnp.broadcast_to(labels[:, None].astype(jnp.float32), x_t.shape)

    labels, null, sigma = jnp.array([2, 5]), 10, 2.0
    denoise = samplers.model_denoiser(apply_fn, "eps", s, labels, null, 3.0)
    x = jnp.full((2, 1), 4.0)
    x0 = denoise(x, sigma)
    a = 1.0 / (1.0 + sigma ** 2)
    np.testing.assert_allclose(seen["x_t"][:2], np.sqrt(a) * 4.0, rtol=1e-6)
    np.testing.assert_allclose(seen["t"], schedules.sigma_to_t(s, sigma), rtol=1e-6)
    eps = np.array([10 + 3 * (2 - 10), 10 + 3 * (5 - 10)], np.float32)[:, None]
    # x = x0 + σ ε in σ coordinates, so x̂0 = x - σ ε̂.
    np.testing.assert_allclose(x0, 4.0 - sigma * eps, rtol=1e-5)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_min_snr_weights_make_every_parameterisation_an_x0_loss_weighted_min_snr_gamma(prediction):
    from latentlab.diffusion import losses
    rng = np.random.default_rng(1)
    x0, eps = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    a = np.array([0.99, 0.5, 0.02])
    snr = a / (1 - a)
    x0_hat = x0 + rng.normal(size=x0.shape) * 0.1  # some prediction error
    x_t = np.sqrt(a)[:, None] * x0 + np.sqrt(1 - a)[:, None] * eps
    # The same prediction expressed in the network's parameterisation:
    eps_hat = (x_t - np.sqrt(a)[:, None] * x0_hat) / np.sqrt(1 - a)[:, None]
    out = parameterization.target(prediction, x0_hat, eps_hat, a[:, None])
    mse = np.mean((np.asarray(out) - np.asarray(parameterization.target(prediction, x0, eps, a[:, None]))) ** 2, axis=1)
    weighted = mse * np.asarray(losses.min_snr_weight(prediction, snr, 5.0))
    expected = np.minimum(snr, 5.0) * np.mean((x0_hat - x0) ** 2, axis=1)
    np.testing.assert_allclose(weighted, expected, rtol=1e-4)


def test_denoising_loss_applies_min_snr_weighting():
    # For ε-prediction the weight min(SNR, γ)/SNR is 1 wherever SNR ≤ γ: with γ above every
    # SNR of the schedule the weighted loss is the uniform one; with γ = 0.5 it is smaller.
    from latentlab.diffusion import losses
    s = schedules.make_schedule("linear", 1000)
    x0 = jax.random.normal(jax.random.PRNGKey(0), (64, 4, 4, 2))
    apply_fn = lambda variables, x, t, y: jnp.zeros_like(x)  # predicts ε = 0
    loss = lambda **kw: float(losses.denoising_loss(apply_fn, None, x0, jnp.zeros(64, jnp.int32),
                                                    jax.random.PRNGKey(1), s, "eps", 0.0, 10, **kw))
    uniform = loss()
    snr_max = float(s.alphas_cumprod[0] / (1 - s.alphas_cumprod[0]))
    assert loss(weighting="min_snr", min_snr_gamma=2 * snr_max) == pytest.approx(uniform, rel=1e-6)
    assert loss(weighting="min_snr", min_snr_gamma=0.5) < 0.9 * uniform
    with pytest.raises(ValueError, match="allowed: uniform, min_snr"):
        loss(weighting="snr")


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_model_denoiser_reads_each_parameterisation(prediction):
    # A fake network that outputs the exact target of its parameterisation: x̂0 must be x0.
    from latentlab.diffusion import samplers
    s = schedules.make_schedule("linear", 1000)
    rng = np.random.default_rng(2)
    x0, eps, sigma = rng.normal(size=(2, 5)), rng.normal(size=(2, 5)), 2.0
    a = 1.0 / (1.0 + sigma ** 2)
    exact = jnp.asarray(parameterization.target(prediction, x0, eps, a), jnp.float32)
    apply_fn = lambda x_t, t, labels: jnp.concatenate([exact, exact])  # conditional = unconditional
    denoise = samplers.model_denoiser(apply_fn, prediction, s, jnp.array([1, 2]), 10, 3.0)
    np.testing.assert_allclose(denoise(jnp.asarray(x0 + sigma * eps, jnp.float32), sigma), x0,
                               atol=1e-5)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_denoising_loss_regresses_the_target_of_its_parameterisation(prediction):
    # A network that outputs 0 has loss mean(target²); the loss's own ε and t are read back from
    # what the network was given (x_t = √ᾱ x0 + √(1-ᾱ) ε).
    from latentlab.diffusion import losses
    s = schedules.make_schedule("linear", 1000)
    x0 = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (8, 4, 4, 2)), np.float64)
    seen = {}

    def apply_fn(variables, x_t, t, labels):
        seen["x_t"], seen["t"] = np.asarray(x_t, np.float64), np.asarray(t)
        return jnp.zeros_like(x_t)

    loss = float(losses.denoising_loss(apply_fn, None, jnp.asarray(x0, jnp.float32),
                                       jnp.zeros(8, jnp.int32), jax.random.PRNGKey(1), s,
                                       prediction, 0.0, 10))
    a = np.asarray(s.alphas_cumprod, np.float64)[seen["t"]][:, None, None, None]
    eps = (seen["x_t"] - np.sqrt(a) * x0) / np.sqrt(1 - a)
    target = {"eps": eps, "x0": x0, "v": np.sqrt(a) * eps - np.sqrt(1 - a) * x0}[prediction]
    assert loss == pytest.approx(np.mean(target ** 2), rel=1e-3)


def test_stable_diffusion_scaled_linear_closed_form_and_leading_offset():
    # SD's scheduler: β_t = (√0.00085 + t/(T-1) (√0.012 - √0.00085))², ᾱ_{T-1} ≈ 0.00466
    T = 1000
    t = np.arange(T)
    closed = (np.sqrt(0.00085) + t / (T - 1) * (np.sqrt(0.012) - np.sqrt(0.00085))) ** 2
    np.testing.assert_allclose(schedules.betas("scaled_linear", T, 0.00085, 0.012), closed,
                               rtol=1e-12)
    abar = schedules.make_schedule("scaled_linear", T, 0.00085, 0.012).alphas_cumprod
    assert float(abar[-1]) == pytest.approx(0.0046600, rel=1e-3)
    # diffusers' "leading" spacing with steps_offset 1 (SD's configs): 901, 801, …, 1
    np.testing.assert_array_equal(schedules.sampling_timesteps(T, 10, "leading", 1),
                                  np.arange(901, 0, -100))
    np.testing.assert_array_equal(schedules.sampling_timesteps(T, 10, "leading"),
                                  np.arange(900, -1, -100))
