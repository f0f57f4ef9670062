"""Fused and stepwise sampling of a (tiny, randomly initialised) latent diffusion model."""

import gc
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from latentlab import checkpoint, sampling
from latentlab.diffusion import samplers, schedules
from latentlab.train import loops
from latentlab.models import UNet, VAE
from latentlab.models.fields import resolve_section

SECTIONS = {
    "model": {"vae": resolve_section(VAE, {"channels": 4}, "model.vae"),
              "unet": resolve_section(UNet, {"channels": 8, "num_heads": 2}, "model.unet")},
    "diffusion": {"beta_schedule": "linear", "num_timesteps": 1000, "beta_start": 1e-4,
                  "beta_end": 0.02},
}


def _jitter(params, key):
    """Random weights everywhere (the zero-initialised output layers would hide bugs), drawn
    on the host: nothing to compile (a jitted draw per leaf compiled for 15-30 s)."""
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist())
    return jax.tree.map(
        lambda p: jnp.asarray(np.asarray(p) + 0.05 * rng.standard_normal(p.shape, np.float32)),
        params)


@pytest.fixture(scope="module")
def model():
    return _model(jax.random.PRNGKey(0))


def _model(key):
    """A model of SECTIONS' architecture; its modules and arrays are new objects each call."""
    vae, unet = VAE(**SECTIONS["model"]["vae"]), UNet(**SECTIONS["model"]["unet"])
    vae_params = _jitter(loops.initialise(vae, key, jnp.zeros((1, 32, 32, 1)), key), key)
    one = jnp.zeros((1,), jnp.int32)
    unet_params = _jitter(loops.initialise(unet, key, jnp.zeros((1, 8, 8, 4)), one, one), key)
    return checkpoint.LatentDiffusionModel(vae, vae_params, unet, unet_params,
                                           schedules.make_schedule("linear", 1000), 1.3, (8, 8, 4))


ARGS = dict(sampler="ddim", steps=6, seed=5, labels=[0, 3, 7], guidance_scale=2.0)


# The session's own machinery (state, history, second evaluations, noise) with the real model;
# every sampler's step against its fused loop is test_samplers' test of the same name.
SESSION_SAMPLERS = ("ddim", "heun", "dpmpp_2m", "dpmpp_3m_sde")


@pytest.mark.parametrize("sampler", SESSION_SAMPLERS)
def test_stepwise_equals_fused_bit_for_bit(model, sampler):
    args = {**ARGS, "sampler": sampler}
    fused = sampling.sample(model, **args)
    session = sampling.SamplingSession(model, **args)
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


def test_intervention_changes_the_result_and_only_the_change_does(model):
    untouched = sampling.sample(model, **ARGS)

    def intervened(factor):
        session = sampling.SamplingSession(model, **ARGS)
        session.step()
        session.set_latents(session.state.x * factor)
        while not session.done:
            session.step()
        return session.state.x

    halved = intervened(0.5)
    # Setting the latents to what they are changes nothing, bit for bit: the difference below
    # comes from the change, not from set_latents itself.
    assert jnp.array_equal(intervened(1.0), untouched)
    assert jnp.array_equal(intervened(0.5), halved)  # the same intervention, the same result
    difference = float(jnp.max(jnp.abs(halved - untouched)))
    scale = float(jnp.max(jnp.abs(untouched)))
    assert difference > 1e-3 * scale, (difference, scale)


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m", "euler_ancestral"])
def test_rewind_to_the_same_latents_retakes_the_step_bit_for_bit(model, sampler):
    # dpmpp_2m keeps a history, euler_ancestral draws noise per step: both come back as they were.
    args = {**ARGS, "sampler": sampler}
    untouched = sampling.sample(model, **args)
    session = sampling.SamplingSession(model, **args)
    session.step()
    session.step()
    started_from = session._before_step.x
    taken = session.state.x
    session.rewind(started_from)
    assert session.steps_done == 1 and session.sigma == float(session.sigmas[1])
    assert jnp.array_equal(session.step().x, taken)
    while not session.done:
        session.step()
    assert jnp.array_equal(session.state.x, untouched)


def test_rewind_to_other_latents_changes_the_result_and_is_once_per_step(model):
    untouched = sampling.sample(model, **ARGS)
    session = sampling.SamplingSession(model, **ARGS)
    with pytest.raises(RuntimeError, match="no step to go back over"):
        session.rewind(session.state.x)
    session.step()
    with pytest.raises(ValueError, match=r"latents must be float32\[3, 8, 8, 4\]"):
        session.rewind(jnp.zeros((1, 8, 8, 4)))
    session.rewind(session.state.x)  # x at σ_1 given as if at σ_0: a different start
    with pytest.raises(RuntimeError, match="no step to go back over"):
        session.rewind(session.state.x)
    while not session.done:
        session.step()
    assert not jnp.array_equal(session.state.x, untouched)


def test_changing_seed_labels_guidance_eta_or_spacing_does_not_recompile(model):
    sampling.sample(model, **ARGS)
    before = sampling.compile_count()
    for change in ({"seed": 6}, {"labels": [1, 1, 1]}, {"guidance_scale": 5.0}, {"eta": 0.3},
                   {"spacing": "exponential"}, {"rho": 3.0}):
        sampling.sample(model, **{**ARGS, **change})
    assert sampling.compile_count() == before
    sampling.sample(model, **{**ARGS, "steps": 7})  # the check can fail: a new shape compiles
    assert sampling.compile_count() == before + 1


def test_a_second_model_of_the_same_architecture_shares_the_compilation(model):
    first = sampling.sample(model, **ARGS)
    first_images = sampling.decode(model, first)
    fused_before, decode_before = sampling.compile_count(), sampling._decode._cache_size()
    other = _model(jax.random.PRNGKey(1))  # equal modules, other objects, other weights
    assert other.unet is not model.unet and other.unet == model.unet
    second = sampling.sample(other, **ARGS)
    second_images = sampling.decode(other._replace(latent_scale=2.0), second)
    assert sampling.compile_count() == fused_before
    assert sampling._decode._cache_size() == decode_before
    assert not jnp.array_equal(first, second)
    assert not jnp.array_equal(first_images, second_images)


def test_a_model_the_caller_dropped_is_freed(model):
    other = _model(jax.random.PRNGKey(2))
    params = weakref.ref(jax.tree.leaves(other.unet_params)[0])
    sampling.decode(other, sampling.sample(other, **ARGS)).block_until_ready()
    session = sampling.SamplingSession(other, **ARGS)
    session.step()
    del other, session
    gc.collect()
    assert params() is None


def test_session_reports_the_sigma_of_its_latents(model):
    session = sampling.SamplingSession(model, **{**ARGS, "spacing": "trailing"})
    table = np.exp(np.asarray(schedules.log_sigmas(model.schedule), np.float64))
    assert session.sigma == pytest.approx(table[-1], rel=1e-5)
    while not session.done:
        session.step()
    assert session.sigma == 0.0


def test_checkpoint_round_trip(model, tmp_path):
    checkpoint.save(tmp_path, model, SECTIONS)
    loaded = checkpoint.load(tmp_path)
    assert loaded.latent_scale == model.latent_scale and loaded.latent_shape == (8, 8, 4)
    same = jax.tree.map(jnp.array_equal, loaded.unet_params, model.unet_params)
    assert all(jax.tree.leaves(same))
    images = sampling.decode(loaded, sampling.sample(loaded, **ARGS))
    assert images.shape == (3, 32, 32, 1)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", "weights"]


def test_checkpoints_of_format_1_msgpack_still_load(model, tmp_path):
    import json
    from flax import serialization
    (tmp_path / "vae.msgpack").write_bytes(serialization.to_bytes(model.vae_params))
    (tmp_path / "unet.msgpack").write_bytes(serialization.to_bytes(model.unet_params))
    meta = {"format": 1, **SECTIONS, "latent_scale": model.latent_scale, "latent_shape": [8, 8, 4]}
    (tmp_path / "checkpoint.json").write_text(json.dumps(meta))
    loaded = checkpoint.load(tmp_path)
    assert all(jax.tree.leaves(jax.tree.map(jnp.array_equal, loaded.unet_params, model.unet_params)))


def _same(a, b) -> bool:
    return all(jax.tree.leaves(jax.tree.map(jnp.array_equal, a, b)))


def test_a_checkpoint_rewritten_in_place_is_loaded_again(model, tmp_path):
    from latentlab import bridge
    checkpoint.save(tmp_path, model, SECTIONS)
    first = bridge.MODELS.get(tmp_path)
    assert bridge.MODELS.get(str(tmp_path)) is first  # by path and content: a hit
    other = _model(jax.random.PRNGKey(3))
    checkpoint.save(tmp_path, other, SECTIONS)  # a run rerun in the same JVM
    second = bridge.MODELS.get(tmp_path)
    assert _same(second.unet_params, other.unet_params)
    assert not _same(second.unet_params, first.unet_params)


def test_the_weights_digest_names_the_weights(model, tmp_path):
    import json
    checkpoint.save(tmp_path / "a", model, SECTIONS)
    checkpoint.save(tmp_path / "b", model, SECTIONS)
    digests = [json.loads((tmp_path / d / "checkpoint.json").read_text())["weights_sha256"]
               for d in "ab"]
    assert digests[0] == digests[1] and len(digests[0]) == 64
    assert checkpoint.identity(tmp_path / "a") == "sha256:" + digests[0]


def _save_format_1(folder, model):
    import json
    from flax import serialization
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vae.msgpack").write_bytes(serialization.to_bytes(model.vae_params))
    (folder / "unet.msgpack").write_bytes(serialization.to_bytes(model.unet_params))
    meta = {"format": 1, **SECTIONS, "latent_scale": model.latent_scale, "latent_shape": [8, 8, 4]}
    (folder / "checkpoint.json").write_text(json.dumps(meta))


def test_a_checkpoint_without_a_digest_is_keyed_by_its_files(model, tmp_path):
    cache = checkpoint.ModelCache(capacity=4)
    _save_format_1(tmp_path, model)
    first = cache.get(tmp_path)
    assert cache.get(tmp_path) is first
    other = _model(jax.random.PRNGKey(4))
    _save_format_1(tmp_path, other)
    assert _same(cache.get(tmp_path).unet_params, other.unet_params)
    assert len(cache) == 1  # the stale entry of the same folder is gone


def test_the_model_cache_keeps_at_most_its_capacity(model, tmp_path):
    from latentlab import bridge
    assert bridge.MODELS.capacity == 4
    cache = checkpoint.ModelCache(capacity=2)
    loaded = []
    for name in "abc":
        _save_format_1(tmp_path / name, model)
        loaded.append(cache.get(tmp_path / name))
    assert len(cache) == 2
    assert cache.get(tmp_path / "c") is loaded[2]
    assert cache.get(tmp_path / "a") is not loaded[0]  # least recently used: evicted
