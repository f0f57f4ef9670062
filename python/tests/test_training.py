"""Real training steps on real digits, small enough for a unit test."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from latentlab.data import mnist
from latentlab.data.loader import Loader, array_fetch
from latentlab.diffusion import schedules
from latentlab.models import UNet, VAE
from latentlab.train import loops
from latentlab.train.state import check_finite


@pytest.fixture(scope="module")
def images(digits_file):
    digits = mnist.load(digits_file)
    return mnist.to_model_input(digits.images[:64]), digits.labels[:64]


def test_batch_indices_cover_each_epoch_once():
    key = jax.random.PRNGKey(0)
    seen = np.concatenate([np.asarray(loops.batch_indices(key, s, 12, 4)) for s in range(3)])
    assert sorted(seen.tolist()) == list(range(12))
    next_epoch = np.asarray(loops.batch_indices(key, 3, 12, 4))
    assert not np.array_equal(next_epoch, seen[:4])


def test_vae_training_lowers_the_loss_and_is_deterministic(images):
    x, _ = images
    vae = VAE(channels=8)
    kwargs = dict(steps=30, batch_size=16, learning_rate=3e-3, kl_weight=1e-3)
    losses = []
    state, final = loops.train_vae(vae, x, jax.random.PRNGKey(0),
                                   progress=lambda *a: losses.append(a[3]), **kwargs)
    assert losses[0] > final and np.isfinite(final)
    assert int(state.step) == 30
    _, again = loops.train_vae(vae, x, jax.random.PRNGKey(0), **kwargs)
    assert again == final  # bitwise: same keys, same data, same CPU


def test_the_step_hook_gets_the_norm_of_the_steps_gradients_on_reported_steps(images,
                                                                            monkeypatch):
    x, _ = images
    vae, key, kl_weight = VAE(channels=8), jax.random.PRNGKey(0), 1e-3
    monkeypatch.setattr(loops, "REPORT_EVERY", 2)
    init_key, data_key, noise_key = jax.random.split(key, 3)  # the loop's three keys
    loader = Loader(array_fetch(np.asarray(x)), len(x), data_key, 16)
    gradient = jax.jit(jax.grad(lambda p, batch, k: loops.vae_loss(vae, p, batch, k, kl_weight)[0]))
    seen, expected = [], []

    def hook(stage, step, state, values):
        seen.append((stage, step, dict(values)))
        if step == 1:  # the second step's gradient, computed here from the state it starts at
            grads = gradient(state.params, jnp.asarray(loader.batch(1)[0]),
                             jax.random.fold_in(noise_key, 1))
            expected.append(float(optax.tree.norm(grads)))

    loops.train_vae(vae, x, key, steps=2, batch_size=16, learning_rate=1e-3,
                    kl_weight=kl_weight, on_step=hook)
    assert [(stage, step, sorted(values)) for stage, step, values in seen] == [
        ("vae", 1, []), ("vae", 2, ["grad_norm"])], "measured on the reported steps only"
    assert expected[0] > 1.0, "large enough that clipping (at 1.0) would show if it were measured after"
    assert seen[1][2]["grad_norm"] == pytest.approx(expected[0], rel=1e-5)


def test_denoiser_steps_move_params_at_the_scheduled_rate_and_ema_follows(images):
    x, labels = images
    vae = VAE(channels=8)
    vae_state, _ = loops.train_vae(vae, x, jax.random.PRNGKey(0), steps=1, batch_size=16,
                                   learning_rate=1e-3, kl_weight=1e-3)
    means, log_vars = loops.encode_dataset(vae, vae_state.params, x, batch_size=32)
    assert means.shape == (64, 8, 8, 4)
    # The smallest U-Net: the schedule and the EMA do not depend on its architecture, and the
    # default one took 3 minutes of compilation from a cold cache.
    unet = UNet(channels=8, channel_mult=(1,), attention_resolutions=(), num_heads=1)
    schedule = schedules.make_schedule("linear", 1000)
    key, learning_rate = jax.random.PRNGKey(1), 1e-3
    reports = []
    state, loss = loops.train_denoiser(
        unet, means, log_vars, labels, loops.latent_scale(means), schedule, key, steps=2,
        batch_size=16, learning_rate=learning_rate, ema_decay=0.9, label_dropout=0.1,
        progress=lambda *a: reports.append(a))
    assert reports == [("unet", 2, 2, loss)] and int(state.step) == 2
    assert np.isfinite(loss)
    # The initialisation the loop uses: the first of its three keys (init, data, noise).
    init = loops.initialise(unet, jax.random.split(key, 3)[0], means[:1],
                             jnp.zeros((1,), jnp.int32), jnp.zeros((1,), jnp.int32))
    # Warm-up is linear from 0 over min(200, steps) = 2 steps: step 1 runs at rate 0, step 2 at
    # learning_rate / 2. Adam moves a weight by rate · m̂/√v̂, which is 1 where the two gradients
    # agree (and at most 1.0014 with β = (0.9, 0.999) after two steps), so the largest move is
    # learning_rate / 2 within a per cent.
    moves = jax.tree.leaves(jax.tree.map(lambda p, i: float(jnp.max(jnp.abs(p - i))),
                                         state.params, init))
    assert max(moves) == pytest.approx(0.5 * learning_rate, rel=0.01)
    # EMA: decay min(0.9, (1 + n)/(10 + n)) is 1/10, then 2/11. Step 1 left the params at init,
    # so after step 2 the EMA is init + 9/11 (params - init).
    expected_ema = jax.tree.map(lambda p, i: i + (9 / 11) * (p - i), state.params, init)
    for ema, expected in zip(jax.tree.leaves(state.ema_params), jax.tree.leaves(expected_ema)):
        np.testing.assert_allclose(ema, expected, rtol=0, atol=1e-7)


class _EveryInitialiser(nn.Module):
    """One layer of each kind the models initialise: convolution, normalisation, dense."""

    @nn.compact
    def __call__(self, x):
        x = nn.GroupNorm(num_groups=2)(nn.Conv(8, (3, 3))(x))
        return nn.Dense(16)(x.reshape((x.shape[0], -1)))


def test_initialisation_compiled_for_one_use_gives_the_default_compilations_bytes():
    # run_once compiles with LLVM's level 2 instead of 3 (much faster); the initial weights,
    # and with them every run's bytes, must not change. (Level 0 changes some of them; the
    # project's VAE and U-Net were checked equal at level 2 when it was chosen.)
    module, key, x = _EveryInitialiser(), jax.random.PRNGKey(7), jnp.ones((2, 16, 16, 1))
    default = jax.jit(module.init)(key, x)["params"]
    once = loops.initialise(module, key, x)
    for a, b in zip(jax.tree.leaves(default), jax.tree.leaves(once), strict=True):
        assert np.array_equal(a, b)


def _recording_keys(monkeypatch, name, position, traced_args=None):
    """Replaces loops.<name> (a loss) by one that records the key each step passes it (and,
    into ``traced_args``, its positional arguments as the step is traced)."""
    keys, real = [], getattr(loops, name)

    def recording(*args, **kwargs):
        jax.debug.callback(lambda k: keys.append(np.asarray(k).tobytes()), args[position])
        if traced_args is not None:
            traced_args.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(loops, name, recording)
    return keys


def test_each_denoiser_step_draws_its_own_noise_and_uses_the_configured_loss(monkeypatch):
    # The noise key is fold_in(noise_key, step): reusing one key would train on the same
    # ε, t and label dropout every step, which no loss value shows.
    traced = []
    keys = _recording_keys(monkeypatch, "denoising_loss", 4, traced)
    unet = UNet(channels=8, channel_mult=(1,), attention_resolutions=(), num_heads=1,
                prediction="v")
    means = np.zeros((16, 4, 4, 2), np.float32)
    loops.train_denoiser(unet, means, np.zeros_like(means), np.zeros(16, np.int32), 1.0,
                         schedules.make_schedule("linear", 100), jax.random.PRNGKey(0), steps=3,
                         batch_size=8, learning_rate=1e-3, ema_decay=0.9, label_dropout=0.25,
                         loss_weighting="min_snr", min_snr_gamma=3.0)
    jax.effects_barrier()
    assert len(set(keys)) == 3
    # (prediction, label_dropout, null_label, weighting, γ) reach the loss as configured.
    assert {tuple(args[6:]) for args in traced} == {("v", 0.25, 10, "min_snr", 3.0)}


def test_each_vae_step_draws_its_own_noise(monkeypatch, images):
    keys = _recording_keys(monkeypatch, "vae_loss", 3)  # vae_loss(vae, params, images, key, …)
    loops.train_vae(VAE(channels=4), images[0][:16], jax.random.PRNGKey(0), steps=3,
                    batch_size=8, learning_rate=1e-3, kl_weight=1e-3)
    jax.effects_barrier()
    assert len(set(keys)) == 3


def test_nan_loss_stops_with_the_step_number():
    with pytest.raises(FloatingPointError, match="unet: loss became nan at step 7"):
        check_finite(float("nan"), "unet", 7)


def test_a_training_run_whose_loss_goes_nan_stops_at_its_first_report():
    # Latents with a NaN make the loss NaN from step 1; the loop checks at every report
    # (loops.REPORT_EVERY steps), so the run stops there instead of training on garbage.
    unet = UNet(channels=8, channel_mult=(1,), attention_resolutions=(), num_heads=1)
    means = np.zeros((16, 4, 4, 2), np.float32)
    means[3, 0, 0, 0] = np.nan
    with pytest.raises(FloatingPointError, match=f"unet: loss became nan at step {loops.REPORT_EVERY}"):
        loops.train_denoiser(unet, means, np.zeros_like(means), np.zeros(16, np.int32), 1.0,
                             schedules.make_schedule("linear", 100), jax.random.PRNGKey(0),
                             steps=3 * loops.REPORT_EVERY, batch_size=16, learning_rate=1e-3,
                             ema_decay=0.9, label_dropout=0.1)


class _Killed(Exception):
    """Stands in for a kill: raised from the progress callback mid-stage."""


def test_a_stage_stopped_midway_resumes_bitwise_equal(images, tmp_path):
    from latentlab.train.resume import StageCheckpoints
    x, _ = images
    vae = VAE(channels=8)
    kwargs = dict(steps=30, batch_size=16, learning_rate=3e-3, kl_weight=1e-3)
    reports = []
    uninterrupted, loss = loops.train_vae(
        vae, x, jax.random.PRNGKey(0), checkpoints=StageCheckpoints(tmp_path / "a", 10),
        progress=lambda *a: reports.append(a), **kwargs)

    def die_at_25(stage, step, total, value):
        if step == 25:
            raise _Killed()

    with pytest.raises(_Killed):
        loops.train_vae(vae, x, jax.random.PRNGKey(0), progress=die_at_25,
                        checkpoints=StageCheckpoints(tmp_path / "b", 10), **kwargs)
    # Only the latest complete Orbax save is kept; what a save killed half-way leaves (Orbax's
    # temporary folder) is ignored on restore and removed by the next save.
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["vae-00000020"]
    (tmp_path / "b" / "vae-00000030.orbax-checkpoint-tmp-1").mkdir()
    assert StageCheckpoints(tmp_path / "b", 10).saved_step("vae") == 20
    resumed_reports = []
    resumed, resumed_loss = loops.train_vae(
        vae, x, jax.random.PRNGKey(0), checkpoints=StageCheckpoints(tmp_path / "b", 10),
        progress=lambda *a: resumed_reports.append(a), **kwargs)
    assert resumed_loss == loss and resumed_reports == reports
    same = jax.tree.map(jnp.array_equal, resumed.params, uninterrupted.params)
    assert all(jax.tree.leaves(same)) and int(resumed.step) == 30
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["vae-00000030"]
    # A finished stage restores instead of training again.
    again, again_loss = loops.train_vae(vae, x, jax.random.PRNGKey(0),
                                        checkpoints=StageCheckpoints(tmp_path / "b", 10), **kwargs)
    assert again_loss == loss and int(again.step) == 30
