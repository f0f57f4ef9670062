"""Fused and stepwise sampling of a (tiny, randomly initialised) latent diffusion model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from latentlab import checkpoint, sampling
from latentlab.diffusion import schedules
from latentlab.models import UNet, VAE
from latentlab.models.fields import resolve_section

SECTIONS = {
    "model": {"vae": resolve_section(VAE, {"channels": 4}, "model.vae"),
              "unet": resolve_section(UNet, {"channels": 8, "num_heads": 2}, "model.unet")},
    "diffusion": {"beta_schedule": "linear", "num_timesteps": 1000, "beta_start": 1e-4,
                  "beta_end": 0.02},
}


def _jitter(params, key):
    """Random weights everywhere (the zero-initialised output layers would hide bugs)."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(tree, [p + 0.05 * jax.random.normal(k, p.shape)
                                     for p, k in zip(leaves, keys)])


@pytest.fixture(scope="module")
def model():
    vae, unet = VAE(**SECTIONS["model"]["vae"]), UNet(**SECTIONS["model"]["unet"])
    key = jax.random.PRNGKey(0)
    vae_params = _jitter(vae.init(key, jnp.zeros((1, 32, 32, 1)), key)["params"], key)
    one = jnp.zeros((1,), jnp.int32)
    unet_params = _jitter(unet.init(key, jnp.zeros((1, 8, 8, 4)), one, one)["params"], key)
    return checkpoint.LatentDiffusionModel(vae, vae_params, unet, unet_params,
                                           schedules.make_schedule("linear", 1000), 1.3, (8, 8, 4))


ARGS = dict(sampler="ddim", steps=6, seed=5, labels=[0, 3, 7], guidance_scale=2.0)


@pytest.mark.parametrize("sampler, eta", [("ddim", 0.0), ("ddim", 1.0), ("ddpm", 1.0),
                                         ("euler", 0.0), ("heun", 0.0), ("dpmpp_2m", 0.0)])
def test_stepwise_equals_fused_bit_for_bit(model, sampler, eta):
    args = {**ARGS, "sampler": sampler}
    fused = sampling.sample(model, eta=eta, **args)
    session = sampling.SamplingSession(model, eta=eta, **args)
    x0_predictions = []
    while not session.done:
        x0_predictions.append(session.step().x0)
    assert session.steps_done == 6
    assert jnp.array_equal(session.state.x, fused), float(jnp.max(jnp.abs(session.state.x - fused)))
    assert not jnp.array_equal(x0_predictions[0], x0_predictions[-1])


def test_session_refuses_a_step_past_the_end_and_wrong_latents(model):
    session = sampling.SamplingSession(model, **{**ARGS, "steps": 1})
    with pytest.raises(ValueError, match=r"latents must be float32\[3, 8, 8, 4\], got float32\[2, 8, 8, 4\]"):
        session.set_latents(jnp.zeros((2, 8, 8, 4)))
    session.step()
    with pytest.raises(RuntimeError, match="all 1 steps are done"):
        session.step()


def test_intervention_changes_the_result(model):
    untouched = sampling.sample(model, **ARGS)
    session = sampling.SamplingSession(model, **ARGS)
    session.step()
    session.set_latents(session.state.x * 0.5)
    while not session.done:
        session.step()
    assert not jnp.array_equal(session.state.x, untouched)


def test_changing_seed_labels_or_guidance_does_not_recompile(model):
    sampling.sample(model, **ARGS)
    before = sampling._fused._cache_size()
    sampling.sample(model, **{**ARGS, "seed": 6, "labels": [1, 1, 1], "guidance_scale": 5.0})
    assert sampling._fused._cache_size() == before


def test_checkpoint_round_trip(model, tmp_path):
    checkpoint.save(tmp_path, model, SECTIONS)
    loaded = checkpoint.load(tmp_path)
    assert loaded.latent_scale == model.latent_scale and loaded.latent_shape == (8, 8, 4)
    same = jax.tree.map(jnp.array_equal, loaded.unet_params, model.unet_params)
    assert all(jax.tree.leaves(same))
    images = sampling.decode(loaded, sampling.sample(loaded, **ARGS))
    assert images.shape == (3, 32, 32, 1)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.json", "unet.msgpack", "vae.msgpack"]
