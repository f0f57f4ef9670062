"""Imports Stable Diffusion weights from safetensors into Flax parameters, and saves them as a
LatentLab checkpoint.

Three sources: (a) a diffusers folder (``model_index.json`` and one folder per component),
(b) a single-file original checkpoint (``model.diffusion_model.*`` …; its shapes come from a
diffusers folder's configs, ``config=``), (c) one component folder (``config.json`` and its
weights). Tensors are read memory-mapped, one at a time (``safe_open(framework="numpy")``).
Pickle files (``.ckpt``, ``.bin``, ``.pt``, ``.pth``) are refused: loading them can run code.

Every tensor must land on a parameter of the right shape and every parameter must be filled;
otherwise the import stops with the lists of missing, unexpected and wrong-shape keys.
"""

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from flax import traverse_util
from safetensors import safe_open

from latentlab import checkpoint
from latentlab.files import write_atomically
from latentlab.models.sd import config as config_lib
from latentlab.models.sd import ldm
from latentlab.models.sd.autoencoder import AutoencoderKL, AutoencoderKLConfig
from latentlab.models.sd.clip import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
from latentlab.models.sd.unet import UNet2DConditionConfig, UNet2DConditionModel
from latentlab.models.vae import VAEComponentConfig

OWN_VAE = "LatentLabVAE"
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl")
FORMAT = 1
# Buffers some checkpoints carry that are not parameters.
_IGNORED = ("text_model.embeddings.position_ids",)


class Component:
    """What LatentLab knows about one kind of component: its config and module classes."""

    def __init__(self, kind: str, config_cls, module_cls, example: Callable):
        self.kind, self.config_cls, self.module_cls, self.example = kind, config_cls, module_cls, example

    def module(self, config):
        return self.module_cls(config)

    def template(self, config) -> dict:
        """The parameters' shapes: {path tuple: ShapeDtypeStruct}."""
        module = self.module(config)
        shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *self.example(config)))
        return traverse_util.flatten_dict(shapes["params"])


def _unet_example(c: UNet2DConditionConfig):
    f = c.downsampling_factor
    x = jnp.zeros((1, f, f, c.in_channels))
    added = None
    if c.addition_embed_type == "text_time":
        text = c.projection_class_embeddings_input_dim - 6 * c.addition_time_embed_dim
        added = {"text_embeds": jnp.zeros((1, text)), "time_ids": jnp.zeros((1, 6))}
    return x, jnp.zeros((1,)), jnp.zeros((1, 1, c.cross_attention_dim)), added


def _vae_example(c: AutoencoderKLConfig):
    return (jnp.zeros((1, c.downsampling_factor, c.downsampling_factor, c.in_channels)),)


def _clip_example(c: CLIPTextConfig):
    return (jnp.zeros((1, 2), jnp.int32),)


def _own_vae_example(c: VAEComponentConfig):
    f = c.downsampling_factor
    return jnp.zeros((1, f, f, c.image_channels)), jax.random.PRNGKey(0)


COMPONENTS = {
    "UNet2DConditionModel": Component("unet", UNet2DConditionConfig, UNet2DConditionModel, _unet_example),
    "AutoencoderKL": Component("vae", AutoencoderKLConfig, AutoencoderKL, _vae_example),
    "CLIPTextModel": Component("text_encoder", CLIPTextConfig, CLIPTextModel, _clip_example),
    "CLIPTextModelWithProjection": Component("text_encoder", CLIPTextConfig,
                                             CLIPTextModelWithProjection, _clip_example),
    # LatentLab's own VAE, in the folders text-conditioned training writes (never imported
    # from outside: no diffusers class maps to it)
    OWN_VAE: Component("vae", VAEComponentConfig, VAEComponentConfig.module,
                       _own_vae_example),
}


def refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ValueError(
            f"{path}: a pickle checkpoint, which LatentLab does not load (unpickling can run "
            f"any code); convert it to .safetensors first (diffusers' or safetensors' "
            f"conversion scripts) and import that")


# --- reading safetensors ------------------------------------------------------------------

class TensorFiles:
    """The tensors of one or more safetensors files by name, opened memory-mapped; a tensor is
    read only when asked for."""

    def __init__(self, files: Iterable[Path]):
        self._where: dict[str, Path] = {}
        self._handles = {}
        for file in files:
            refuse_pickle(file)
            try:
                handle = safe_open(str(file), framework="numpy")
            except Exception as e:  # a header that lies, a truncated file
                raise ValueError(f"{file}: not a readable safetensors file ({e}); "
                                 "re-export or re-download it") from None
            self._handles[file] = handle
            for key in handle.keys():
                self._where[key] = file

    def keys(self) -> list[str]:
        return list(self._where)

    # A key may name a part of a stored tensor: ``KEY#q``, ``#k``, ``#v`` the thirds of a
    # packed attention projection (OpenCLIP's in_proj), ``KEY#T`` its transpose.
    def shape(self, key: str) -> tuple:
        key, part = key.partition("#")[::2]
        shape = tuple(self._handles[self._where[key]].get_slice(key).get_shape())
        if part in ("q", "k", "v"):
            return (shape[0] // 3,) + shape[1:]
        return shape[::-1] if part == "T" else shape

    def get(self, key: str) -> np.ndarray:
        key, part = key.partition("#")[::2]
        array = self._read(key)
        if part in ("q", "k", "v"):
            third = array.shape[0] // 3
            return array["qkv".index(part) * third:("qkv".index(part) + 1) * third]
        return array.T if part == "T" else array

    def _read(self, key: str) -> np.ndarray:
        file = self._where[key]
        try:
            # Mapped for this one tensor: a mapping held open keeps every page read so far
            # resident in this process, which doubled the import's peak memory.
            with safe_open(str(file), framework="numpy") as handle:
                array = handle.get_tensor(key)
        except Exception as e:
            raise ValueError(f"{file}: tensor {key}: cannot be read ({e}); the file may be "
                             "truncated: export or download it again") from None
        # bfloat16 files (many SDXL and fine-tuned checkpoints) come through ml_dtypes, the
        # NumPy type JAX uses; every float type becomes float32 in map_tensors.
        if array.dtype not in (np.float16, ml_dtypes.bfloat16, np.float32, np.float64):
            raise ValueError(f"{file}: tensor {key}: dtype {array.dtype}, expected a float type")
        return array


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a component folder (sharded ones through their index)."""
    indexes = sorted(folder.glob("*.safetensors.index.json"))
    if indexes:
        index = json.loads(indexes[0].read_text())
        return [folder / name for name in sorted(set(index["weight_map"].values()))]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickles = [p for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES]
        if pickles:
            refuse_pickle(pickles[0])
        raise ValueError(f"{folder}: no .safetensors weights here")
    preferred = [f for f in files if f.name in ("diffusion_pytorch_model.safetensors",
                                               "model.safetensors")]
    return preferred or files[:1]


# --- mapping tensors onto Flax parameters ------------------------------------------------

def flax_path(key: str) -> tuple[str, ...]:
    """``down_blocks.0.resnets.1.conv1`` → (down_blocks_0, resnets_1, conv1): each number
    joins the name before it, as the Flax modules name their children."""
    parts: list[str] = []
    for token in key.split("."):
        if token.isdigit() and parts:
            parts[-1] += "_" + token
        else:
            parts.append(token)
    return tuple(parts)


def _convert(array: np.ndarray, leaf: str, target_rank: int) -> np.ndarray:
    if leaf == "kernel":
        if array.ndim == 4 and target_rank == 2:  # a 1×1 conv where a linear layer is
            array = array[:, :, 0, 0] if array.shape[2:] == (1, 1) else array
        if array.ndim == 4:
            return np.transpose(array, (2, 3, 1, 0))  # OIHW → HWIO
        if array.ndim == 2:
            return array.T  # [out, in] → [in, out]
    return array


def map_tensors(tensors: TensorFiles, names: dict[str, str], template: dict, where: str) -> dict:
    """Flax parameters from ``tensors``; ``names`` maps each file key to its diffusers /
    transformers name.

    Raises:
      ValueError: one line with the missing, unexpected and wrong-shape keys.
    """
    params, unexpected, wrong = {}, [], []
    for key, name in names.items():
        if name in _IGNORED:
            continue
        *path, last = flax_path(name)
        leaves = {"weight": ("kernel", "scale", "embedding"), "bias": ("bias",)}.get(last, ())
        target = next((tuple(path) + (l,) for l in leaves if tuple(path) + (l,) in template), None)
        if target is None:
            unexpected.append(key)
            continue
        array = _convert(tensors.get(key), target[-1], len(template[target].shape))
        if tuple(array.shape) != tuple(template[target].shape):
            wrong.append(f"{key} {list(tensors.shape(key))}")
            continue
        # Into a JAX array at once (one copy, float32), so the array read from the file is
        # freed here and Orbax saves these buffers without a copy of them all: with the
        # per-tensor mapping above and checkpoint.SAVE_CONCURRENT_GB the import's peak memory
        # went from 2.98× to 1.28× the weights (bench sd).
        params[target] = jnp.asarray(np.asarray(array, np.float32))
    missing = ["/".join(p) for p in template if p not in params]
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected),
                            ("wrong shape", wrong)):
            if keys:
                more = f" and {len(keys) - 8} more" if len(keys) > 8 else ""
                parts.append(f"{len(keys)} {label}: {', '.join(keys[:8])}{more}")
        raise ValueError(f"{where}: the weights do not fit the config ({'; '.join(parts)}); "
                         "check that config.json belongs to these weights")
    return traverse_util.unflatten_dict(params)


# --- components, folders and single files --------------------------------------------------

def component_class(folder: Path) -> str:
    """The class a component folder's config.json names (diffusers' ``_class_name`` or
    transformers' ``architectures``)."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ValueError(f"{config_file}: missing; a component folder holds config.json")
    data = json.loads(config_file.read_text())
    name = data.get("_class_name") or (data.get("architectures") or [None])[0]
    if name not in COMPONENTS or name == OWN_VAE:
        raise ValueError(f"{config_file}: class {name!r} is not one LatentLab imports; "
                         f"known: {', '.join(c for c in COMPONENTS if c != OWN_VAE)}")
    return name


def load_component(folder: Path, class_name: str | None = None, tensors: TensorFiles | None = None,
                   names: dict[str, str] | None = None):
    """(class name, config, params) of one component folder (weights from ``tensors`` with
    key ``names`` instead, for a single-file checkpoint)."""
    class_name = class_name or component_class(folder)
    component = COMPONENTS[class_name]
    config = config_lib.read(component.config_cls, folder / "config.json")
    if tensors is None:
        tensors = TensorFiles(weight_files(folder))
        names = {k: k for k in tensors.keys()}
    params = map_tensors(tensors, names, component.template(config), str(folder))
    return class_name, config, params


def _model_index(folder: Path) -> dict:
    index = folder / "model_index.json"
    if not index.is_file():
        raise ValueError(f"{folder}: not a model (no model_index.json, and no config.json of "
                         "one component); name a diffusers folder, a component folder or a "
                         ".safetensors checkpoint")
    data = json.loads(index.read_text())
    return {name: spec[1] for name, spec in data.items()
            if isinstance(spec, list) and len(spec) == 2 and spec[1] in COMPONENTS}


def load_folder(folder: Path) -> dict:
    """{component name: (class, config, params)} of a diffusers folder."""
    return {name: load_component(folder / name, cls) for name, cls in _model_index(folder).items()}


def load_single_file(file: Path, config_folder: Path) -> dict:
    """{component name: (class, config, params)} of an LDM single-file checkpoint, with the
    shapes of ``config_folder``'s configs."""
    tensors = TensorFiles([file])
    keys = tensors.keys()
    classes = _model_index(config_folder)
    unet_config = config_lib.read(UNet2DConditionConfig, config_folder / "unet" / "config.json")
    vae_config = config_lib.read(AutoencoderKLConfig, config_folder / "vae" / "config.json")
    groups = {"unet": {}, "vae": {}, "text_encoder": {}, "text_encoder_2": {}}
    open_clip = {}  # component → the prefix of its OpenCLIP keys
    unknown = []
    for key in keys:
        if key.startswith(ldm.UNET_PREFIX):
            groups["unet"][key] = ldm.unet_key(key[len(ldm.UNET_PREFIX):],
                                               unet_config.layers_per_block)
        elif key.startswith(ldm.VAE_PREFIX):
            groups["vae"][key] = ldm.vae_key(key[len(ldm.VAE_PREFIX):],
                                             len(vae_config.block_out_channels))
        elif (prefix := next((p for p in ldm.TEXT_PREFIXES if key.startswith(p)), None)):
            groups[ldm.TEXT_PREFIXES[prefix]][key] = ldm.text_key(key[len(prefix):])
        elif (prefix := next((p for p in ldm.OPEN_CLIP_PREFIXES if key.startswith(p)), None)):
            open_clip[ldm.OPEN_CLIP_PREFIXES[prefix]] = prefix
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"{file}: {len(unknown)} unexpected keys outside model.diffusion_model, "
                         f"first_stage_model and the text encoders' "
                         f"({', '.join(list(ldm.TEXT_PREFIXES) + list(ldm.OPEN_CLIP_PREFIXES))}): "
                         f"{', '.join(unknown[:8])}")
    for name, prefix in open_clip.items():
        if name not in classes:
            continue
        text_config = config_lib.read(CLIPTextConfig, config_folder / name / "config.json")
        groups[name] = ldm.open_clip_names(keys, prefix, text_config.num_hidden_layers,
                                           classes[name] == "CLIPTextModelWithProjection")
    return {name: load_component(config_folder / name, classes[name], tensors, names)
            for name, names in groups.items() if name in classes}


# --- the scheduler -------------------------------------------------------------------------

PREDICTION_TYPES = {"epsilon": "eps", "v_prediction": "v", "sample": "x0"}


def scheduler_to_diffusion(path: Path) -> dict:
    """A diffusers scheduler config → LatentLab's diffusion settings."""
    data = json.loads(path.read_text())
    kind = data.get("beta_schedule", "linear")
    allowed = {"linear": "linear", "scaled_linear": "scaled_linear",
               "squaredcos_cap_v2": "cosine"}
    if kind not in allowed:
        raise ValueError(f"{path}: beta_schedule {kind!r} is not supported; "
                         f"supported: {', '.join(allowed)}")
    if data.get("rescale_betas_zero_snr"):
        raise ValueError(f"{path}: rescale_betas_zero_snr is not supported yet")
    if data.get("trained_betas") is not None:
        raise ValueError(f"{path}: trained_betas are not supported")
    prediction = data.get("prediction_type", "epsilon")
    if prediction not in PREDICTION_TYPES:
        raise ValueError(f"{path}: prediction_type {prediction!r} is not supported; "
                         f"supported: {', '.join(PREDICTION_TYPES)}")
    return {"beta_schedule": allowed[kind], "num_timesteps": int(data.get("num_train_timesteps", 1000)),
            "beta_start": float(data.get("beta_start", 1e-4)),
            "beta_end": float(data.get("beta_end", 2e-2)),
            "prediction": PREDICTION_TYPES[prediction],
            "timestep_spacing": data.get("timestep_spacing", "leading"),
            "steps_offset": int(data.get("steps_offset", 0)),
            "set_alpha_to_one": bool(data.get("set_alpha_to_one", True))}


# --- the whole import ----------------------------------------------------------------------

def _count(tree) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def import_model(path: str | Path, out_dir: str | Path, name: str,
                 config: str | Path | None = None) -> dict:
    """Imports ``path`` (a diffusers folder, an LDM ``.safetensors`` file with ``config`` naming
    the diffusers folder whose configs describe it, or one component folder) into
    ``out_dir/name``: Orbax weights, ``sd_model.json`` (configs, diffusion settings, hash),
    the tokenizer's files and the licence. Returns a JSON-able summary.

    Raises:
      ValueError: one line naming the file or key and the fix; nothing is written then.
    """
    path, out = Path(path), Path(out_dir) / name
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"name {name!r}: must be a plain folder name")
    refuse_pickle(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    source_folder = path
    if path.is_file():
        if path.suffix != ".safetensors":
            raise ValueError(f"{path}: expected a .safetensors checkpoint or a model folder")
        if config is None:
            raise ValueError(f"{path}: a single-file checkpoint carries no configs; name a "
                             "diffusers folder with the same architecture as config")
        source_folder = Path(config)
        components = load_single_file(path, source_folder)
        source = "single-file"
    elif (path / "model_index.json").is_file():
        components = load_folder(path)
        source = "diffusers"
    elif not (path / "config.json").is_file():
        _model_index(path)  # raises: not a model
    else:
        cls, cfg, params = load_component(path)
        components = {COMPONENTS[cls].kind: (cls, cfg, params)}
        source = "component"

    weights = {k: params for k, (_, _, params) in components.items()}
    digest = checkpoint.weights_digest(weights)
    meta: dict[str, Any] = {
        "format": FORMAT, "name": name, "source": str(path.absolute()), "source_kind": source,
        "weights_sha256": digest,
        "components": {k: component_meta(cls, cfg, params)
                       for k, (cls, cfg, params) in components.items()}}
    index_file = source_folder / "model_index.json"
    if index_file.is_file():  # SDXL: an absent negative prompt is zeros, not the embedding of ""
        zeros = json.loads(index_file.read_text()).get("force_zeros_for_empty_prompt")
        if zeros is not None:
            meta["force_zeros_for_empty_prompt"] = bool(zeros)
    scheduler_file = source_folder / "scheduler" / "scheduler_config.json"
    if scheduler_file.is_file():
        meta["diffusion"] = scheduler_to_diffusion(scheduler_file)
    licence = next((p for p in sorted(source_folder.glob("LICEN[CS]E*")) if p.is_file()), None)
    if licence is not None:
        meta["licence"] = licence.read_text(errors="replace")

    summary = {k: v for k, v in meta.items() if k != "components"}
    summary["path"] = str(out)
    summary["components"] = {k: {"class": v["class"], "parameters": v["parameters"]}
                             for k, v in meta["components"].items()}
    tokenizers = {t: source_folder / t for t in ("tokenizer", "tokenizer_2")
                  if (source_folder / t).is_dir()}  # tokenizer_2: SDXL's second encoder's
    summary["already_imported"] = not save_model(out, weights, meta, tokenizers)
    return summary


def component_meta(class_name: str, config, params) -> dict:
    """A component's entry in ``sd_model.json``: its class, config and parameter count."""
    return {"class": class_name, "config": config_lib.to_dict(config),
            "parameters": _count(params)}


def save_model(out: Path, weights: dict, meta: dict, tokenizers: dict[str, Path]) -> bool:
    """Writes a model folder ``out`` (what :func:`load_imported` reads): Orbax ``weights``,
    the tokenizers' folders copied in under their names (``tokenizers``: name → source
    folder) and ``meta`` as ``sd_model.json``, last, into a staging folder renamed into place.
    Returns False, writing nothing, where ``out`` already holds these weights.

    Raises:
      ValueError: ``out`` holds other weights or is not a model folder; a model is never
        overwritten.
    """
    if (out / "sd_model.json").is_file():
        existing = json.loads((out / "sd_model.json").read_text()).get("weights_sha256")
        if existing != meta["weights_sha256"]:
            raise ValueError(f"{out}: another model (weights {str(existing)[:12]}) is already "
                             f"imported under the name {out.name!r}; choose another name")
        return False
    if out.exists():
        raise ValueError(f"{out}: exists and is not a model folder; choose another name")
    staging = out.parent / f".{out.name}.importing"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        checkpoint.save_tree(staging / "weights", weights, {"format": FORMAT})
        for tokenizer, source in tokenizers.items():
            shutil.copytree(source, staging / tokenizer)
            meta[tokenizer] = tokenizer
        write_atomically(staging / "sd_model.json", json.dumps(meta, indent=2).encode())
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return True


def read_meta(folder: str | Path) -> dict:
    """The ``sd_model.json`` of an :func:`import_model` folder.

    Raises:
      ValueError: one line, if ``folder`` holds no imported model.
    """
    file = Path(folder) / "sd_model.json"
    if not file.is_file():
        raise ValueError(f"{folder}: not an imported model (no sd_model.json); import one with "
                         "./latentlab import PATH")
    return json.loads(file.read_text())


def identity(folder: str | Path) -> str:
    """What an imported model holds: its weights' SHA-256 (for caches of loaded models)."""
    return "sha256:" + read_meta(folder)["weights_sha256"]


def load_imported(folder: str | Path) -> dict:
    """The components of an :func:`import_model` folder: {name: (module, params)}, plus
    ``meta`` (its sd_model.json) and ``configs`` ({name: config})."""
    folder = Path(folder)
    meta = read_meta(folder)
    templates, modules, configs = {}, {}, {}
    for key, info in meta["components"].items():
        component = COMPONENTS[info["class"]]
        cfg = config_lib.from_dict(component.config_cls, info["config"],
                                   f"{folder}/sd_model.json: components.{key}.config")
        modules[key], configs[key] = component.module(cfg), cfg
        templates[key] = traverse_util.unflatten_dict(component.template(cfg))
    weights, _ = checkpoint.restore_tree(
        folder / "weights", templates, jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))
    loaded = {key: (modules[key], weights[key]) for key in modules}
    loaded["meta"], loaded["configs"] = meta, configs
    return loaded
