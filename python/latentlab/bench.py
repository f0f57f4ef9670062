"""Helpers for the Java benchmarks (``./latentlab bench``): tensors held in Python, and a model
of the quickstart's shape with random weights (speed does not depend on the weights)."""

import jax
import jax.numpy as jnp

from latentlab import checkpoint, sampling
from latentlab.diffusion import schedules
from latentlab.models import UNet, VAE
from latentlab.models.fields import resolve_section

_held: dict[int, jax.Array] = {}


def hold(nbytes: int) -> int:
    """Allocates a float32 jax.Array [1, nbytes/4] that stays alive until :func:`release`."""
    x = jnp.zeros((1, nbytes // 4), jnp.float32)
    x.block_until_ready()
    handle = len(_held) + 1
    _held[handle] = x
    return handle


def held(handle: int) -> jax.Array:
    return _held[handle]


def release(handle: int) -> None:
    _held.pop(handle, None)


QUICKSTART_SECTIONS = {
    "model": {"vae": resolve_section(VAE, {}, "model.vae"),
              "unet": resolve_section(UNet, {}, "model.unet")},
    "diffusion": {"beta_schedule": "linear", "num_timesteps": 1000, "beta_start": 1e-4,
                  "beta_end": 0.02},
}


def random_checkpoint(folder: str) -> None:
    """Saves a model with the quickstart's default architecture and random weights."""
    vae = VAE(**QUICKSTART_SECTIONS["model"]["vae"])
    unet = UNet(**QUICKSTART_SECTIONS["model"]["unet"])
    key = jax.random.PRNGKey(0)
    vae_params = vae.init(key, jnp.zeros((1, 32, 32, 1)), key)["params"]
    one = jnp.zeros((1,), jnp.int32)
    unet_params = unet.init(key, jnp.zeros((1, 8, 8, 4)), one, one)["params"]
    model = checkpoint.LatentDiffusionModel(vae, vae_params, unet, unet_params,
                                            schedules.make_schedule("linear", 1000), 1.0,
                                            (8, 8, 4))
    checkpoint.save(folder, model, QUICKSTART_SECTIONS)


def fused_sample(model, steps: int, labels) -> None:
    """Fused sampling to completion (blocks until the result exists)."""
    sampling.sample(model, sampler="ddim", steps=steps, seed=0, labels=labels,
                    guidance_scale=3.0).block_until_ready()
