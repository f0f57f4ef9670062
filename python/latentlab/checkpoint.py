"""Trained LDM weights on disk, without pickle: Flax's msgpack serialisation of each model's
parameters and a JSON file with everything needed to rebuild the modules.

Layout of a checkpoint folder::

    checkpoint.json   model sections, diffusion section, latent scale and latent shape
    vae.msgpack       VAE parameters
    unet.msgpack      U-Net parameters (the EMA weights, which sampling uses)
"""

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import serialization

from latentlab.diffusion import schedules
from latentlab.files import write_atomically
from latentlab.models import UNet, VAE

FORMAT = 1


class LatentDiffusionModel(NamedTuple):
    """A trained VAE and latent U-Net with what it takes to sample from them."""

    vae: VAE
    vae_params: Any
    unet: UNet
    unet_params: Any
    schedule: schedules.NoiseSchedule
    latent_scale: float
    latent_shape: tuple[int, ...]  # (h, w, c) of one latent



def save(folder: str | os.PathLike, model: LatentDiffusionModel, sections: dict) -> None:
    """Writes a checkpoint; ``sections`` holds the resolved ``model`` and ``diffusion`` config."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / "vae.msgpack", serialization.to_bytes(model.vae_params))
    write_atomically(folder / "unet.msgpack", serialization.to_bytes(model.unet_params))
    meta = {"format": FORMAT, "model": sections["model"], "diffusion": sections["diffusion"],
            "latent_scale": model.latent_scale, "latent_shape": list(model.latent_shape)}
    write_atomically(folder / "checkpoint.json", json.dumps(meta, indent=2).encode())


def load(folder: str | os.PathLike) -> LatentDiffusionModel:
    """Reads a checkpoint written by :func:`save`.

    Raises:
      FileNotFoundError: naming the missing file.
    """
    folder = Path(folder)
    meta = json.loads((folder / "checkpoint.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{folder}/checkpoint.json: format {meta.get('format')}, "
                         f"this LatentLab reads format {FORMAT}")
    vae, unet = VAE(**meta["model"]["vae"]), UNet(**meta["model"]["unet"])
    shape = tuple(meta["latent_shape"])
    factor = vae.downsampling_factor
    key = jax.random.PRNGKey(0)
    image = jnp.zeros((1, shape[0] * factor, shape[1] * factor, vae.image_channels))
    vae_template = jax.eval_shape(lambda: vae.init(key, image, key)["params"])
    one = jnp.zeros((1,), jnp.int32)
    unet_template = jax.eval_shape(
        lambda: unet.init(key, jnp.zeros((1,) + shape), one, one)["params"])
    vae_params = serialization.from_bytes(vae_template, (folder / "vae.msgpack").read_bytes())
    unet_params = serialization.from_bytes(unet_template, (folder / "unet.msgpack").read_bytes())
    d = meta["diffusion"]
    schedule = schedules.make_schedule(d["beta_schedule"], d["num_timesteps"], d["beta_start"],
                                       d["beta_end"])
    return LatentDiffusionModel(vae, vae_params, unet, unet_params, schedule,
                                float(meta["latent_scale"]), shape)
