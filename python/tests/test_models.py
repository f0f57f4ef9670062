from functools import partial

import jax
import jax.numpy as jnp
import pytest

from latentlab import config as config_lib
from latentlab.models import UNet, VAE
from latentlab.models.fields import resolve_section
from latentlab.train import loops


@pytest.mark.parametrize("channel_mult, latent_side", [((1, 2), 16), ((1, 2, 2), 8)])
def test_vae_shapes_follow_the_downsampling_factor(channel_mult, latent_side):
    vae = VAE(channels=8, channel_mult=channel_mult, latent_channels=3)
    x = jnp.zeros((2, 32, 32, 1))
    # Shapes only: eval_shape traces and compiles nothing.
    params = jax.eval_shape(vae.init, jax.random.PRNGKey(0), x, jax.random.PRNGKey(1))["params"]
    posterior = jax.eval_shape(partial(vae.apply, method=VAE.encode), {"params": params}, x)
    assert posterior.mean.shape == (2, latent_side, latent_side, 3)
    decoded = jax.eval_shape(partial(vae.apply, method=VAE.decode), {"params": params}, posterior.mean)
    assert decoded.shape == x.shape
    assert vae.downsampling_factor == 32 // latent_side


def test_vae_kl_is_zero_for_the_prior_and_positive_otherwise():
    from latentlab.models.vae import Posterior
    zeros = jnp.zeros((1, 2, 2, 1))
    assert float(Posterior(zeros, zeros).kl()[0]) == 0.0
    # KL(N(1, 1) || N(0, 1)) = 1/2 per dimension, 4 dimensions.
    assert float(Posterior(zeros + 1, zeros).kl()[0]) == pytest.approx(2.0)


@pytest.mark.parametrize("attention", [(), (4,), (8, 4)])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_unet_output_has_the_input_shape(attention, num_classes):
    unet = UNet(channels=8, attention_resolutions=attention, num_classes=num_classes, num_heads=2)
    x = jnp.ones((3, 8, 8, 4))
    t, y = jnp.array([0, 10, 999]), jnp.array([1, 2, 3])
    params = jax.eval_shape(unet.init, jax.random.PRNGKey(0), x, t, y)["params"]
    assert jax.eval_shape(unet.apply, {"params": params}, x, t, y).shape == x.shape


def test_an_untrained_unet_predicts_zeros():
    # The output convolution starts at zero, whatever comes before it.
    unet = UNet(channels=8, attention_resolutions=(4,), num_classes=10, num_heads=2)
    x = jnp.ones((3, 8, 8, 4))
    t, y = jnp.array([0, 10, 999]), jnp.array([1, 2, 3])
    params = loops.initialise(unet, jax.random.PRNGKey(0), x, t, y)
    out = loops.run_once(unet.apply, {"params": params}, x, t, y)
    assert out.shape == x.shape
    assert float(jnp.max(jnp.abs(out))) == 0.0


def test_resolve_section_fills_defaults_and_checks_types():
    resolved = resolve_section(UNet, {"channels": 16, "channel_mult": [1, 2, 4]}, "model.unet")
    assert resolved["channels"] == 16 and resolved["channel_mult"] == (1, 2, 4)
    assert resolved["prediction"] == "eps"
    with pytest.raises(ValueError, match=r"model.unet.channels: expected an integer, got 'x'"):
        resolve_section(UNet, {"channels": "x"}, "model.unet")
    with pytest.raises(ValueError, match=r"model.unet.channel_mult\[1\]: expected an integer"):
        resolve_section(UNet, {"channel_mult": [1, 2.5]}, "model.unet")
    with pytest.raises(ValueError, match=r"model.unet.prediction: must be one of eps, x0, v"):
        resolve_section(UNet, {"prediction": "noise"}, "model.unet")
    with pytest.raises(ValueError, match=r"model.vae.chanels: unknown key; allowed: channel_mult, channels"):
        resolve_section(VAE, {"chanels": 3}, "model.vae")


def test_config_resolve_checks_python_owned_names():
    base = {"sample": {"sampler": "ddim", "spacing": "trailing"},
            "diffusion": {"beta_schedule": "linear"}}
    resolved = config_lib.resolve(base)
    assert set(resolved["model"]) == {"vae", "unet"}
    with pytest.raises(ValueError, match="sample.sampler: unknown value 'magic'; allowed: ddpm, ddim, euler, "):
        config_lib.resolve({**base, "sample": {"sampler": "magic"}})
    with pytest.raises(ValueError, match="sample.spacing: unknown value 'cosine'; allowed: leading, "
                                         "trailing, linspace, karras, exponential, polyexponential"):
        config_lib.resolve({**base, "sample": {"spacing": "cosine"}})
    with pytest.raises(ValueError, match="model.gan: unknown model section"):
        config_lib.resolve({**base, "model": {"gan": {}}})


def test_config_resolve_fills_the_samplers_own_eta():
    for sampler, eta in (("ddim", 0.0), ("euler_ancestral", 1.0), ("dpmpp_2m_sde", 1.0)):
        resolved = config_lib.resolve({"sample": {"sampler": sampler, "eta": None}})
        assert resolved["sample"]["eta"] == eta
    assert config_lib.resolve({"sample": {"sampler": "ddim", "eta": 0.5}})["sample"]["eta"] == 0.5


@pytest.mark.parametrize("section, key, value, message", [
    ("unet", "channels", -1, "must be a positive integer, got -1"),
    ("unet", "channels", 0, "must be a positive integer, got 0"),
    ("unet", "channel_mult", [], "must not be empty, got []"),
    ("unet", "channel_mult", [1, 0], "must be a list of positive integers, got [1, 0]"),
    ("unet", "num_res_blocks", 0, "must be a positive integer, got 0"),
    ("unet", "attention_resolutions", [4, -8], "must be a list of positive integers, got [4, -8]"),
    ("unet", "num_heads", 0, "must be a positive integer, got 0"),
    ("unet", "num_heads", 3, "must divide the channels of every level (channels × channel_mult "
                             "= 32), got 3"),
    ("unet", "num_classes", -1, "must be an integer >= 0, got -1"),
    ("unet", "prediction", "noise", "must be one of eps, x0, v, got 'noise'"),
    ("vae", "channels", -16, "must be a positive integer, got -16"),
    ("vae", "channel_mult", [2, -1], "must be a list of positive integers, got [2, -1]"),
    ("vae", "latent_channels", 0, "must be a positive integer, got 0"),
    ("vae", "image_channels", 3, "must be data.channels 1, got 3; leave it out to follow the data"),
    ("vae", "channel_mult", [1] * 7, "7 levels downsample by 64, which does not divide the "
                                     "32×32 images; use fewer levels"),
    ("unet", "channel_mult", [1] * 5, "5 levels downsample by 16, which does not divide the "
                                      "8×8 latents; use fewer levels"),
])
def test_config_resolve_refuses_out_of_range_model_values(section, key, value, message):
    with pytest.raises(ValueError) as failure:
        config_lib.resolve({"model": {section: {key: value}}})
    assert str(failure.value) == f"model.{section}.{key}: {message}"


def test_every_default_architecture_value_is_in_range():
    resolved = config_lib.resolve({"model": {"vae": {"channel_mult": [1, 2]},
                                             "unet": {"num_classes": 0, "num_heads": 1,
                                                      "attention_resolutions": []}}})
    assert resolved["model"]["unet"]["attention_resolutions"] == ()
