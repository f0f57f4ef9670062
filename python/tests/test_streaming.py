"""Training from any Source: the deterministic loader, flips, the latent cache, shared VAE
stages, shapes from the data, and resume after SIGKILL, on tiny 8×8 RGB images."""

import copy
import math
import os

import jax
import numpy as np
import pyarrow as pa
import pytest

from latentlab import experiment
from latentlab.data import latent_cache, loader
from latentlab.data import source as source_lib
from latentlab.data.source import ArraySource
from latentlab.train import ldm, loops


RGB = {
    "seed": 3,
    "data": {"dataset": "tiny-rgb", "holdout": 8, "resolution": 8, "channels": 3,
             "flip": "horizontal"},
    "model": {"vae": {"channels": 4, "channel_mult": [1, 2]},
              "unet": {"channels": 8, "channel_mult": [1], "attention_resolutions": [],
                       "num_heads": 1, "num_classes": 3}},
    "diffusion": {"beta_schedule": "linear", "num_timesteps": 100, "beta_start": 1e-4,
                  "beta_end": 0.02},
    "train": {"vae": {"steps": 3, "batch_size": 8, "learning_rate": 1e-3, "kl_weight": 1e-3},
              "unet": {"steps": 3, "batch_size": 8, "learning_rate": 1e-3, "ema_decay": 0.9,
                       "label_dropout": 0.1, "loss_weighting": "uniform",
                       "min_snr_gamma": 5.0}},
    "sample": {"num_samples": 3, "sampler": "ddim", "steps": 2, "guidance_scale": 2.0,
               "eta": None, "spacing": "karras", "rho": 7.0},
}


def tiny_images(n=40, side=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    return images, (np.arange(n) % 3).astype(np.int32)


def tiny_source(seed=0) -> ArraySource:
    images, labels = tiny_images(seed=seed)
    return ArraySource(images, labels, ["a", "b", "c"], f"tiny-{seed}")


def test_step_indices_are_the_jitted_steps_indices_for_any_step_in_any_order():
    key = jax.random.PRNGKey(7)
    # the Loader keeps each epoch's permutation: the same positions, asked in any order
    positions = loader.Loader(lambda p, step, rows: (p,), 13, key, 4)
    for step in (5, 0, 3, 11, 4, 12, 1):  # epochs of 3 steps: crosses epochs, out of order
        expected = np.asarray(loops.batch_indices(key, step, 13, 4))
        assert np.array_equal(loader.step_indices(key, step, 13, 4), expected)
        assert np.array_equal(positions.batch(step)[0], expected), step
    assert len(positions._orders) == loader.ORDERS_KEPT


def test_prefetched_batches_equal_each_steps_own_batch_and_flips_follow_key_and_step():
    source = tiny_source()
    indices = np.arange(32)
    flip_key = jax.random.PRNGKey(1)
    make = lambda key: loader.Loader(loader.source_fetch(source, indices, key),
                                     32, jax.random.PRNGKey(2), 8)
    flipping, plain = make(flip_key), make(None)
    streamed = list(flipping.iterate(2, 7))
    assert len(streamed) == 5
    for step, (batch,) in zip(range(2, 7), streamed):
        assert np.array_equal(batch, flipping.batch(step)[0])  # prefetch changes nothing
        flips = loader.step_flips(flip_key, step, 8)
        (unflipped,) = plain.batch(step)
        assert np.array_equal(batch[flips], unflipped[flips][:, :, ::-1])
        assert np.array_equal(batch[~flips], unflipped[~flips])
    # A process of a multi-process run loads its rows only: the same examples and flips.
    for rows in (slice(0, 4), slice(4, 8)):
        (part,) = flipping.batch(5, rows)
        assert np.array_equal(part, flipping.batch(5)[0][rows])
    parts = list(flipping.iterate(2, 4, slice(4, 8)))
    assert all(np.array_equal(p, flipping.batch(s)[0][4:]) for s, (p,) in zip((2, 3), parts))
    all_flips = np.stack([loader.step_flips(flip_key, s, 8) for s in range(6)])
    assert 0 < all_flips.mean() < 1 and len({f.tobytes() for f in all_flips}) > 1
    other = loader.step_flips(jax.random.PRNGKey(5), 3, 8)
    assert not all(np.array_equal(other, loader.step_flips(flip_key, s, 8)) for s in [3])


def test_shapes_come_from_the_data():
    rgb = experiment.resolve(RGB)
    assert rgb["model"]["vae"]["image_channels"] == 3  # filled from data.channels
    digits = experiment.resolve({k: v for k, v in RGB.items() if k != "data"})
    assert digits["model"]["vae"]["image_channels"] == 1
    odd = copy.deepcopy(RGB)
    odd["data"]["resolution"] = [8, 6]
    odd["model"]["vae"]["channel_mult"] = [1, 2, 2]
    with pytest.raises(ValueError, match=r"^model.vae.channel_mult: 3 levels downsample by 4, "
                                         r"which does not divide the 8×6 images"):
        experiment.resolve(odd)
    grey = copy.deepcopy(RGB)
    grey["model"]["vae"]["image_channels"] = 1
    with pytest.raises(ValueError, match=r"^model.vae.image_channels: must be data.channels 3"):
        experiment.resolve(grey)
    with pytest.raises(ValueError, match=r"^model.unet.num_classes: 3 does not cover the "
                                         r"data's 4 classes"):
        experiment.check_data_shapes(rgb, (8, 8, 3), 4)
    with pytest.raises(ValueError, match=r"^model.vae.channel_mult: .* the 12×12 images"):
        experiment.check_data_shapes(experiment.resolve(
            {**RGB, "model": {**RGB["model"], "vae": {"channel_mult": [1, 2, 2, 2]}}}),
            (12, 12, 3), 3)


def _bytes(result):
    return (np.asarray(result.latents).tobytes(), np.asarray(result.images).tobytes())


@pytest.fixture(scope="module")
def in_memory():
    """The tiny RGB run without a home: latents in memory, nothing cached."""
    reports = []
    result = ldm.train_and_sample(RGB, tiny_source(), lambda *a: reports.append(a))
    return result, reports


def test_a_tiny_rgb_run_samples_colour_images(in_memory):
    result, reports = in_memory
    assert result.images.shape == (3, 8, 8, 3) and result.latents.shape == (3, 4, 4, 4)
    assert result.labels.tolist() == [0, 1, 2]
    assert np.isfinite(result.metrics["unet_final_loss"])
    assert ("vae", 3, 3, result.metrics["vae_final_loss"]) in reports
    # each stage reports (stage, 0, total, NaN) before its first, compiling call, then its steps
    for stage, total in (("vae", 3), ("unet", 3), ("sample", 2)):
        mine = [r for r in reports if r[0] == stage]
        assert mine[0][:3] == (stage, 0, total) and math.isnan(mine[0][3]), mine
        assert mine[-1][1] == total
    assert [r[0] for r in reports].index("unet") > [r[0] for r in reports].index("vae")


def test_the_latent_cache_gives_the_same_bits_and_a_second_trial_trains_and_encodes_nothing(
        in_memory, tmp_path, monkeypatch):
    # the latent scale reads the cache in chunks, never whole (it may be larger than memory)
    chunked, chunks = [], latent_cache.Latents.mean_chunks
    monkeypatch.setattr(latent_cache.Latents, "mean_chunks",
                        lambda self, rows=500: chunked.append(rows) or chunks(self, rows))
    first = ldm.train_and_sample(RGB, tiny_source(), home=tmp_path)
    assert chunked == [loops.LATENT_SCALE_ROWS]
    assert _bytes(first) == _bytes(in_memory[0])
    assert first.stages["latent_cache"]["encoded"] and not first.stages["vae_stage"]["reused"]
    [entry] = latent_cache.entries(tmp_path)
    assert first.stages["latent_cache"]["path"] == entry["path"]
    assert entry["examples"] == 32 and entry["fingerprint"] == "tiny-0" and not entry["in_use"]
    assert entry["vae"] == first.stages["latent_cache"]["vae"]
    table = pa.ipc.open_file(pa.memory_map(entry["path"])).read_all()
    assert table.column_names == ["mean", "log_var", "label"] and table.num_rows == 32

    mtime = os.stat(entry["path"]).st_mtime_ns
    reports = []
    second = ldm.train_and_sample(RGB, tiny_source(), lambda *a: reports.append(a),
                                  home=tmp_path)
    assert _bytes(second) == _bytes(first)
    assert not second.stages["latent_cache"]["encoded"] and second.stages["vae_stage"]["reused"]
    assert [r[1] for r in reports if r[0] == "vae"] == [3]  # no VAE step trained
    assert os.stat(entry["path"]).st_mtime_ns == mtime

    # A changed image is other data: a new fingerprint, a new VAE stage and cache file.
    changed = tiny_source()
    changed.images[0, 0, 0, 0] ^= 1
    changed._fingerprint = "tiny-0-changed"
    third = ldm.train_and_sample(RGB, changed, home=tmp_path)
    assert third.stages["latent_cache"]["encoded"] and not third.stages["vae_stage"]["reused"]
    assert len(latent_cache.entries(tmp_path)) == 2

    # data.limit: the first 16 training examples only, in the split's order: a VAE stage and
    # cache of their own, holding those examples' labels.
    limited = ldm.train_and_sample({**RGB, "data": {**RGB["data"], "limit": 16}}, tiny_source(),
                                   home=tmp_path)
    assert limited.stages["latent_cache"]["encoded"]
    assert not limited.stages["vae_stage"]["reused"]
    [entry] = [e for e in latent_cache.entries(tmp_path)
               if e["path"] == limited.stages["latent_cache"]["path"]]
    first16 = source_lib.split_indices(40, 8)[0][:16]
    table = pa.ipc.open_file(pa.memory_map(entry["path"])).read_all()
    assert entry["examples"] == 16 and table.num_rows == 16
    assert table.column("label").to_pylist() == tiny_source().labels[first16].tolist()


def test_a_cache_in_use_is_not_removed(tmp_path):
    path = latent_cache.folder(tmp_path) / "x.arrow"
    means = np.zeros((2, 1, 1, 2), np.float32)
    latent_cache.write(path, [(means, means, np.zeros(2, np.int32))],
                       {"vae": "v", "fingerprint": "f", "examples": 2})
    assert not any(p.name.startswith(".") for p in path.parent.iterdir())  # no temporary left
    with latent_cache.Claim(path):
        assert latent_cache.entries(tmp_path)[0]["in_use"]
        with pytest.raises(ValueError, match="^latent cache: x.arrow is in use"):
            latent_cache.remove(tmp_path, "x.arrow")
    with pytest.raises(ValueError, match="^latent cache: no entry 'y.arrow'"):
        latent_cache.remove(tmp_path, "y.arrow")
    assert latent_cache.remove(tmp_path, "x.arrow")["bytes"] > 0
    assert latent_cache.entries(tmp_path) == []


def test_a_run_on_shards_killed_with_sigkill_resumes_bit_for_bit(in_memory, tmp_path):
    """A real process trains on two WebDataset shards of PNG files, saving every 2 steps, and is
    killed with SIGKILL once a U-Net save is on disk; this process resumes it from its
    checkpoint and ends with the bits of the run on the same images held in memory."""
    from resume_program import kill_after_first_unet_save, write_shards
    pattern = write_shards(tmp_path / "shards", *tiny_images())
    config = {**RGB, "data": {**RGB["data"], "dataset": "webdataset", "path": pattern},
              "execution": {"checkpoint_every": 2}}
    home, run = tmp_path / "home", tmp_path / "run"
    kill_after_first_unet_save(home, run, config)
    resumed = ldm.train_and_sample(config, None, checkpoint_dir=str(run), home=home)
    assert resumed.metrics["unet_resumed_from_step"] == 2
    assert _bytes(resumed) == _bytes(in_memory[0])


def test_the_latent_scale_is_read_in_chunks_and_is_one_over_the_std(tmp_path):
    # analytic: half the entries 0, half 2 → mean 1, std 1 → scale 1 exactly
    two_values = np.zeros((1200, 2, 2, 1), np.float32)
    two_values[::2] = 2.0
    assert loops.latent_scale(two_values) == 1.0
    z = np.random.default_rng(0).normal(3.0, 0.25, (1300, 4, 4, 2)).astype(np.float32)
    assert loops.latent_scale(z) == pytest.approx(1 / np.std(z.astype(np.float64)), rel=1e-9)
    # a cache's chunks give the same bits as the array
    path = tmp_path / "z.arrow"
    latent_cache.write(path, ((z[i:i + 500], z[i:i + 500], np.zeros(len(z[i:i + 500]), np.int32))
                              for i in range(0, len(z), 500)), {})
    cache = latent_cache.Latents(path)
    chunks = list(cache.mean_chunks(loops.LATENT_SCALE_ROWS))
    assert max(len(c) for c in chunks) == loops.LATENT_SCALE_ROWS
    assert loops.latent_scale(iter(chunks)) == loops.latent_scale(z)
    # a batch gathers its rows across the file's record batches (views of the mapping)
    positions = np.random.default_rng(1).permutation(len(z))[:64]
    means, log_vars, labels = cache.take(positions)
    assert np.array_equal(means, z[positions]) and np.array_equal(log_vars, z[positions])
    assert labels.dtype == np.int32 and labels.shape == (64,)
    with pytest.raises(IndexError):
        cache.take(np.array([len(z)]))
    with pytest.raises(ValueError, match="no latents"):
        loops.latent_scale(iter([]))


def test_data_flip_changes_what_the_vae_trains_on(in_memory):
    # RGB flips horizontally; the same run without flips sees other pixels from the first step
    unflipped = ldm.train_and_sample({**RGB, "data": {**RGB["data"], "flip": "none"}},
                                     tiny_source())
    assert unflipped.metrics["vae_final_loss"] != in_memory[0].metrics["vae_final_loss"]
