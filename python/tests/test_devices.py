"""Data parallelism, proven on CPU with simulated devices: a run on 4 devices equals a run on
1 with the same global batch, and a training checkpoint saved on either resumes on the other.

JAX fixes its devices at start, so the 4-device side runs in its own process started with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (devices_program.py); this process has
JAX's one default device. The XLA flag is part of the compilation cache's key, so that
process compiles once for itself and reuses its programs afterwards.

Measured tolerances (CPU, jax 0.10.2): nothing here is bitwise. Sampling has no reduction
across the batch, yet differs by about 1e-7 of its scale: XLA's CPU convolutions accumulate
in another order for a per-device batch of 2 than for 8. A step's gradient, summed over the
batch in another order, agrees to about 1e-6 of its largest entry. After a few Adam steps the
weights differ by up to the learning rate: Adam's update m̂/√v̂ has magnitude about 1 whatever
the gradient's size, so a weight whose gradient is near zero moves by ±lr on rounding alone.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import devices_program as program
from latentlab import execution
from latentlab.train.resume import StageCheckpoints

pytestmark = pytest.mark.cpu_only  # simulated devices are CPU devices
LEARNING_RATE = 3e-3  # devices_program's


@pytest.fixture(scope="module")
def four_devices(tmp_path_factory):
    """What the 4-device process measured; before it starts, this (1-device) process leaves
    a VAE stage killed after its step-3 save in ck1 for it to resume."""
    folder = tmp_path_factory.mktemp("devices")
    assert len(jax.devices()) == 1, "this process is the 1-device side"
    program.interrupt_vae(execution.from_config(None), folder / "ck1")
    python_dir = Path(program.__file__).resolve().parents[1]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               PYTHONPATH=str(python_dir), JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, program.__file__, str(folder)], env=env,
                          cwd=python_dir, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-4000:]
    return folder, json.loads(done.stdout.strip().splitlines()[-1])


def test_training_and_sampling_are_split_over_the_mesh(four_devices):
    _, measured = four_devices
    assert measured["devices"] == ["cpu:0", "cpu:1", "cpu:2", "cpu:3"]
    assert measured["params_devices"] == 4  # the state is replicated on every device
    # Inside each training step, the loss sees its batch split over the data axis.
    split = str(jax.sharding.PartitionSpec("data"))
    assert measured["batch_layout"] == {"vae_loss": split, "denoising_loss": split}
    assert measured["latents_devices"] == 4
    assert measured["latents_sharding"] == str(jax.sharding.PartitionSpec("data"))


def test_four_devices_equal_one_within_float32_rounding(four_devices):
    _, m = four_devices
    assert m["gradient_loss"][0] == pytest.approx(m["gradient_loss"][1], rel=1e-6)
    assert m["gradient"]["max_abs"] <= 1e-5 * m["gradient"]["max_scale"]
    assert m["sample"]["max_abs"] <= 1e-6 * m["sample"]["max_scale"]
    for stage in ("vae", "unet"):
        four, one = m[f"{stage}_loss"]
        assert four == pytest.approx(one, rel=1e-5)
        # Adam's bound: each of the 6 steps moves a weight by about the learning rate at most.
        assert m[stage]["max_abs"] <= program.STEPS * LEARNING_RATE


def test_a_checkpoint_saved_on_one_device_resumes_on_four(four_devices):
    folder, m = four_devices
    assert m["resumed_on_4_step"] == program.STEPS
    assert m["resumed_on_4_restored_onto_devices"] == 4, "restored onto the run's mesh"
    resumed, uninterrupted = np.load(folder / "resumed_on_4.npy"), np.load(folder / "vae4.npy")
    assert np.max(np.abs(resumed - uninterrupted)) <= program.STEPS * LEARNING_RATE


def test_a_checkpoint_saved_on_four_devices_resumes_on_one(four_devices):
    folder, _ = four_devices
    one = execution.from_config(None)
    resumed, loss = program.train_vae(one, StageCheckpoints(folder / "ck4", program.EVERY))
    assert int(resumed.step) == program.STEPS and np.isfinite(loss)
    assert list(jax.tree.leaves(resumed.params)[0].sharding.device_set) == jax.devices()
    uninterrupted = np.load(folder / "vae4.npy")
    assert np.max(np.abs(program.leaves(resumed.params) - uninterrupted)) <= (
        program.STEPS * LEARNING_RATE)
