"""The runs behind test_devices.py: tiny training and sampling on a mesh of N devices.

JAX fixes its devices when it starts, so the 4-device side runs as its own process started
with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``::

    python devices_program.py FOLDER

It trains a tiny VAE and U-Net on 4 devices and on 1 (the same global batch), samples on 4
and on 1, leaves a VAE stage killed after its step-3 save on 4 devices in FOLDER/ck4, resumes
FOLDER/ck1 (killed the same way by the 1-device test process) on 4 devices, and prints one
JSON line of what it measured. The test process imports the same functions.
"""

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from latentlab import compilation_cache, execution
from latentlab.checkpoint import LatentDiffusionModel
from latentlab.diffusion import schedules
from latentlab.models import UNet, VAE
from latentlab.train import loops
from latentlab.train.resume import StageCheckpoints

STEPS, BATCH, EVERY = 6, 8, 3
VAE_MODEL = VAE(channels=4, channel_mult=(1, 2), latent_channels=2)
UNET_MODEL = UNet(channels=8, channel_mult=(1,), attention_resolutions=(), num_heads=1)
SCHEDULE = schedules.make_schedule("linear", 100)


def images() -> np.ndarray:
    """32 images [32, 8, 8, 1] in [0, 1]: any data will do, the same in every process."""
    return np.random.default_rng(0).uniform(size=(32, 8, 8, 1)).astype(np.float32)


def train_vae(ex, checkpoints=None):
    return loops.train_vae(VAE_MODEL, images(), jax.random.PRNGKey(0), steps=STEPS,
                           batch_size=BATCH, learning_rate=3e-3, kl_weight=1e-3,
                           checkpoints=checkpoints, execution=ex)


def train_unet(ex, vae_params):
    means, log_vars = loops.encode_dataset(VAE_MODEL, vae_params, images(), batch_size=32)
    labels = np.arange(32) % 10
    return loops.train_denoiser(UNET_MODEL, means, log_vars, labels, 1.0, SCHEDULE,
                                jax.random.PRNGKey(1), steps=STEPS, batch_size=BATCH,
                                learning_rate=3e-3, ema_decay=0.9, label_dropout=0.1,
                                execution=ex)


def sample(ex, vae_params, unet_params):
    from latentlab import sampling
    model = LatentDiffusionModel(VAE_MODEL, jax.device_put(vae_params, ex.replicated), UNET_MODEL,
                                 jax.device_put(unet_params, ex.replicated), SCHEDULE, 1.0,
                                 (4, 4, 2))
    return sampling.sample(model, sampler="dpmpp_2m", steps=4, seed=0, labels=np.arange(8),
                           guidance_scale=2.0, execution=ex)


class Killed(Exception):
    """Stands in for a kill right after the stage's first save."""


class KilledAfterFirstSave(StageCheckpoints):
    def save(self, stage, state, history):
        super().save(stage, state, history)
        raise Killed()


class RecordingRestore(StageCheckpoints):
    """Notes how many devices hold the state it restores (the run's mesh, whatever saved it)."""
    restored_devices = None

    def restore(self, stage, state):
        restored, history = super().restore(stage, state)
        self.restored_devices = len(jax.tree.leaves(restored.params)[0].sharding.device_set)
        return restored, history


def interrupt_vae(ex, folder: Path) -> None:
    """A VAE stage on ``ex`` killed after its step-3 save into ``folder``."""
    try:
        train_vae(ex, KilledAfterFirstSave(folder, EVERY))
    except Killed:
        return
    raise AssertionError("the stage was not killed")


def vae_gradient(ex):
    """One batch's loss and gradient at the initial weights, the batch split over ``ex``."""
    from functools import partial
    params = jax.device_put(loops.initialise(VAE_MODEL, jax.random.PRNGKey(0), images()[:1],
                                             jax.random.PRNGKey(1)), ex.replicated)
    batch = jax.device_put(images()[:BATCH], ex.batch)
    grad = jax.jit(jax.value_and_grad(partial(loops.vae_loss, VAE_MODEL), has_aux=True))
    (loss, _), grads = grad(params, batch, jax.random.PRNGKey(2), 1e-3)
    return loss, grads


def leaves(tree) -> np.ndarray:
    """Every leaf of a pytree, flattened into one float64 vector (host memory)."""
    return np.concatenate([np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(tree)])


def difference(a, b) -> dict:
    a, b = leaves(a), leaves(b)
    return {"bitwise": bool(np.array_equal(a, b)), "max_abs": float(np.max(np.abs(a - b))),
            "max_scale": float(np.max(np.abs(a)))}


def record_batch_sharding(name: str, position: int, seen: dict) -> None:
    """Wraps loops.<name> (a loss) to report, as XLA compiled it, how the batch it receives at
    ``position`` is laid out over the devices."""
    real = getattr(loops, name)

    def recording(*args, **kwargs):
        jax.debug.inspect_array_sharding(
            args[position], callback=lambda s: seen.setdefault(name, str(s.spec)))
        return real(*args, **kwargs)

    setattr(loops, name, recording)


def main(folder: Path) -> None:
    compilation_cache.enable(Path(__file__).resolve().parents[2])
    four, one = execution.from_config({"devices": 4}), execution.from_config({"devices": 1})
    assert len(jax.devices()) == 4, jax.devices()
    (gloss4, grad4), (gloss1, grad1) = vae_gradient(four), vae_gradient(one)
    seen: dict = {}
    record_batch_sharding("vae_loss", 2, seen)
    record_batch_sharding("denoising_loss", 2, seen)
    vae4, loss4 = train_vae(four)
    unet4, uloss4 = train_unet(four, vae4.params)
    batch_layout = dict(seen)  # the 4-device runs' (later 1-device calls do not overwrite)
    vae1, loss1 = train_vae(one)
    unet1, uloss1 = train_unet(one, vae1.params)
    x4 = sample(four, vae1.params, unet1.ema_params)
    x1 = sample(one, vae1.params, unet1.ema_params)
    interrupt_vae(four, folder / "ck4")
    restoring = RecordingRestore(folder / "ck1", EVERY)
    resumed, resumed_loss = train_vae(four, restoring)
    np.save(folder / "vae4.npy", leaves(vae4.params))
    np.save(folder / "resumed_on_4.npy", leaves(resumed.params))
    print(json.dumps({
        "devices": [str(d) for d in jax.devices()],
        "batch_layout": batch_layout,
        "params_devices": len(jax.tree.leaves(vae4.params)[0].sharding.device_set),
        "latents_sharding": str(x4.sharding.spec), "latents_devices": len(x4.sharding.device_set),
        "gradient": difference(grad4, grad1), "gradient_loss": [float(gloss4), float(gloss1)],
        "vae": difference(vae4.params, vae1.params), "vae_loss": [loss4, loss1],
        "unet": difference(unet4.params, unet1.params), "unet_loss": [uloss4, uloss1],
        "sample": difference(x4, x1),
        "resumed_on_4_step": int(resumed.step), "resumed_on_4_loss": resumed_loss,
        "resumed_on_4_restored_onto_devices": restoring.restored_devices,
    }))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
