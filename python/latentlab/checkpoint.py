"""Trained LDM weights on disk, without pickle: an Orbax checkpoint of both models'
parameters and a JSON file with everything needed to rebuild the modules.

Layout of a checkpoint folder::

    weights/          Orbax checkpoint: {"vae": VAE parameters, "unet": U-Net parameters (the
                      EMA weights, which sampling uses)}
    checkpoint.json   model sections, diffusion section, latent scale and latent shape,
                      and the weights' SHA-256 (``weights_sha256``, see :func:`weights_digest`);
                      written last, so its presence means the weights are complete

Format 1 (before Orbax) kept the parameters as Flax msgpack (``vae.msgpack``,
``unet.msgpack``); :func:`load` still reads it.
"""

import collections
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization

from latentlab.diffusion import schedules
from latentlab.files import write_atomically
from latentlab.models import UNet, VAE, from_section

FORMAT = 2
_MSGPACK_FORMAT = 1


# Gigabytes of arrays Orbax writes at once while saving. Unbounded, it held a copy of all of
# them: saving a 4.3 GB Stable Diffusion import peaked at 8.3 GB resident, 6.1 GB at 1, 5.2 GB
# at 0.25 (no slower).
SAVE_CONCURRENT_GB = 0.25


def _checkpointer() -> ocp.Checkpointer:
    """The Orbax checkpointer of :func:`save_tree` and :func:`restore_tree`: the tree (its
    writes bounded by SAVE_CONCURRENT_GB) and a JSON ``info`` item."""
    return ocp.Checkpointer(ocp.CompositeCheckpointHandler(
        tree=ocp.PyTreeCheckpointHandler(save_concurrent_gb=SAVE_CONCURRENT_GB),
        info=ocp.JsonCheckpointHandler()))


def save_tree(directory: str | os.PathLike, tree, info: dict) -> None:
    """Writes a pytree of arrays and a JSON-able ``info`` as one Orbax checkpoint. Orbax writes
    into a temporary folder and renames it when complete, so a save killed half-way leaves
    nothing under ``directory``; an existing ``directory`` is replaced."""
    checkpointer = _checkpointer()
    try:
        checkpointer.save(Path(directory).absolute(),
                          ocp.args.Composite(tree=ocp.args.PyTreeSave(tree),
                                             info=ocp.args.JsonSave(info)), force=True)
    finally:
        checkpointer.close()


def restore_tree(directory: str | os.PathLike, template, sharding=None):
    """(tree, info) of a :func:`save_tree` checkpoint; ``template`` gives the tree's structure,
    shapes and dtypes (arrays or ``jax.ShapeDtypeStruct``).

    Arrays land on ``sharding`` if given; otherwise where their template leaf is, if it is a
    ``jax.Array`` (a resumed run's state goes back onto the run's own mesh, whatever mesh saved
    it); otherwise replicated over every local device. A checkpoint holds one copy of each
    array, so any mesh restores what any other saved.
    """
    default = None
    if sharding is None:
        from latentlab import execution
        default = execution.from_config(None).replicated

    def restore_args(leaf):
        target = sharding or (leaf.sharding if isinstance(leaf, jax.Array) else default)
        return ocp.ArrayRestoreArgs(sharding=target, dtype=leaf.dtype)

    restore_args = jax.tree.map(restore_args, template)
    checkpointer = _checkpointer()
    try:
        restored = checkpointer.restore(
            Path(directory).absolute(),
            ocp.args.Composite(tree=ocp.args.PyTreeRestore(template, restore_args=restore_args),
                               info=ocp.args.JsonRestore()))
    finally:
        checkpointer.close()
    return restored.tree, restored.info


class LatentDiffusionModel(NamedTuple):
    """A trained VAE and latent U-Net with what it takes to sample from them."""

    vae: VAE
    vae_params: Any
    unet: UNet
    unet_params: Any
    schedule: schedules.NoiseSchedule
    latent_scale: float
    latent_shape: tuple[int, ...]  # (h, w, c) of one latent


def weights_digest(tree) -> str:
    """SHA-256 of a pytree of arrays: each leaf's path, dtype, shape and bytes, in tree order.

    It names the weights themselves, not Orbax's files (whose metadata holds timestamps), so
    the same weights saved twice have the same digest, and a run's provenance can quote it.
    """
    digest = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        array = np.ascontiguousarray(jax.device_get(leaf))
        digest.update(f"{jax.tree_util.keystr(path)}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save(folder: str | os.PathLike, model: LatentDiffusionModel, sections: dict) -> None:
    """Writes a checkpoint; ``sections`` holds the resolved ``model`` and ``diffusion`` config."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {"vae": model.vae_params, "unet": model.unet_params}
    save_tree(folder / "weights", weights, {"format": FORMAT})  # every process takes part
    if jax.process_index() != 0:
        return
    from latentlab.execution import local_copy
    local = local_copy(weights)
    meta = {"format": FORMAT, "model": sections["model"], "diffusion": sections["diffusion"],
            "latent_scale": model.latent_scale, "latent_shape": list(model.latent_shape),
            "weights_sha256": weights_digest(local)}
    write_atomically(folder / "checkpoint.json", json.dumps(meta, indent=2).encode())


def load(folder: str | os.PathLike, sharding=None) -> LatentDiffusionModel:
    """Reads a checkpoint written by :func:`save`; the weights land on ``sharding`` (default:
    one device, the default one: sessions hand single-device arrays to Java; a run's sampling
    passes its mesh's replicated sharding).

    Raises:
      FileNotFoundError: naming the missing file.
    """
    folder = Path(folder)
    meta = json.loads((folder / "checkpoint.json").read_text())
    if meta.get("format") not in (FORMAT, _MSGPACK_FORMAT):
        raise ValueError(f"{folder}/checkpoint.json: format {meta.get('format')}, "
                         f"this LatentLab reads formats {_MSGPACK_FORMAT} and {FORMAT}")
    # Through the fields' schema: JSON lists become the tuples that keep the modules hashable
    # (jit takes them as static arguments).
    vae = from_section(VAE, meta["model"]["vae"], f"{folder}/checkpoint.json: model.vae")
    unet = from_section(UNet, meta["model"]["unet"], f"{folder}/checkpoint.json: model.unet")
    shape = tuple(meta["latent_shape"])
    factor = vae.downsampling_factor
    key = jax.random.PRNGKey(0)
    image = jnp.zeros((1, shape[0] * factor, shape[1] * factor, vae.image_channels))
    vae_template = jax.eval_shape(lambda: vae.init(key, image, key)["params"])
    one = jnp.zeros((1,), jnp.int32)
    unet_template = jax.eval_shape(
        lambda: unet.init(key, jnp.zeros((1,) + shape), one, one)["params"])
    if meta["format"] == _MSGPACK_FORMAT:
        vae_params = serialization.from_bytes(vae_template, (folder / "vae.msgpack").read_bytes())
        unet_params = serialization.from_bytes(unet_template,
                                               (folder / "unet.msgpack").read_bytes())
    else:
        weights, _ = restore_tree(
            folder / "weights", {"vae": vae_template, "unet": unet_template},
            sharding or jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))
        vae_params, unet_params = weights["vae"], weights["unet"]
    d = meta["diffusion"]
    schedule = schedules.make_schedule(d["beta_schedule"], d["num_timesteps"], d["beta_start"],
                                       d["beta_end"])
    return LatentDiffusionModel(vae, vae_params, unet, unet_params, schedule,
                                float(meta["latent_scale"]), shape)


def identity(folder: str | os.PathLike) -> str:
    """What a checkpoint holds, cheaply: the weights' SHA-256 that :func:`save` recorded, or,
    for checkpoints written before it did, the relative paths, sizes and modification times
    of its files (a rewrite changes them).

    Raises:
      ValueError: one line, if ``folder`` holds no checkpoint.
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / "checkpoint.json").read_text())
    except FileNotFoundError:
        raise ValueError(f"{folder}: no checkpoint here (checkpoint.json is missing); "
                         "train the run first, or name a run that finished") from None
    if meta.get("weights_sha256"):
        return "sha256:" + meta["weights_sha256"]
    stats = sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                   for p in folder.rglob("*") if p.is_file())
    return "files:" + hashlib.sha256(json.dumps(stats).encode()).hexdigest()


class ModelCache:
    """Loaded checkpoints by (absolute path, :func:`identity`), least recently used first out.

    Java reruns a run in the same JVM by rewriting its checkpoint in place; keying by content
    loads the new weights. A model evicted here lives on while a session still holds it.
    Other kinds of model folders (an imported Stable Diffusion model) give their own
    ``loader`` and ``identify``.
    """

    def __init__(self, capacity: int, loader: Callable | None = None,
                 identify: Callable | None = None):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._load = loader or load
        self._identify = identify or identity
        self._models: collections.OrderedDict = collections.OrderedDict()

    def get(self, folder: str | os.PathLike):
        key = (str(Path(folder).absolute()), self._identify(folder))
        model = self._models.get(key)
        if model is None:
            for stale in [k for k in self._models if k[0] == key[0]]:
                del self._models[stale]  # the same folder before a rewrite
            model = self._load(folder)
            self._models[key] = model
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return model

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        self._models.clear()
