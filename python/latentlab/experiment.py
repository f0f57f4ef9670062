"""The parts of an experiment config that Python owns: the model sections, the names of
schedules and samplers, the execution section, the data's classes, and whether the data leaves
each training stage a batch.

Java parses, validates and fills the experiment's structure (name, seed, data, train, sample);
it sends the config here (through :mod:`latentlab.config`, the boundary) to have these parts
checked and filled: one schema, not two. The library's own users (:mod:`latentlab.train.ldm`)
call this module directly.
"""

import copy
import os

from latentlab import execution, sampling
from latentlab.data import mnist, sources
from latentlab.diffusion import samplers, schedules
from latentlab.models import UNet, VAE
from latentlab.models.fields import resolve_section

MODEL_SECTIONS = {"vae": VAE, "unet": UNet}


def resolve(config: dict) -> dict:
    """Returns a copy of ``config`` with model and execution sections filled with their
    defaults, and the sampler's own η where the config leaves ``sample.eta`` out.

    Raises:
      ValueError: ``key.path: what is wrong; what is allowed`` for the first problem found.
    """
    config = copy.deepcopy(config)
    models = config.get("model") or {}
    unknown = sorted(set(models) - set(MODEL_SECTIONS))
    if unknown:
        raise ValueError(f"model.{unknown[0]}: unknown model section; allowed: "
                         f"{', '.join(sorted(MODEL_SECTIONS))}")
    config["model"] = {name: resolve_section(cls, models.get(name), f"model.{name}")
                       for name, cls in MODEL_SECTIONS.items()}
    _check_model_shapes(config["model"])
    _check_choice(config, ("diffusion", "beta_schedule"), schedules.BETA_SCHEDULES)
    _check_choice(config, ("sample", "sampler"), samplers.SAMPLERS)
    _check_choice(config, ("sample", "spacing"), schedules.SPACINGS)
    if (config.get("data") or {}).get("classes") is not None:
        config["data"]["classes"] = list(mnist.check_classes(config["data"]["classes"]))
    config["execution"] = execution.resolve(config.get("execution"))
    sample = config.get("sample")
    if sample is not None and sample.get("sampler"):
        sample["eta"] = samplers.eta_or_default(sample["sampler"], sample.get("eta"))
    if sample is not None:
        sampling.check_eta(sample.get("eta"))
        if "guidance_scale" in sample:
            sampling.check_guidance(sample["guidance_scale"])
    return config


def _check_model_shapes(models: dict) -> None:
    """What the two model sections must agree on with the data and with each other: the
    digits' one channel, and downsampling that divides the images' and the latents' sides
    (an odd side breaks the decoder's and the U-Net's way back up)."""
    vae, unet = models["vae"], models["unet"]
    if vae["image_channels"] != mnist.MODEL_INPUT_CHANNELS:
        raise ValueError(f"model.vae.image_channels: must be {mnist.MODEL_INPUT_CHANNELS} "
                         f"(the digits are grey-scale), got {vae['image_channels']}")
    side = mnist.MODEL_INPUT_SIZE
    for name, section in (("vae", vae), ("unet", unet)):
        levels = len(section["channel_mult"])
        factor = 2 ** (levels - 1)
        if side % factor:
            raise ValueError(f"model.{name}.channel_mult: {levels} levels downsample by "
                             f"{factor}, which does not divide the {side}×{side} "
                             f"{'images' if name == 'vae' else 'latents'}; use fewer levels")
        side //= factor  # the U-Net works on the VAE's latents


def _check_choice(config: dict, path: tuple[str, str], allowed: tuple[str, ...]) -> None:
    value = config.get(path[0], {}).get(path[1])
    if value is not None and value not in allowed:
        raise ValueError(f"{'.'.join(path)}: unknown value {value!r}; allowed: "
                         f"{', '.join(allowed)}")


def data_source(config: dict, home: str | os.PathLike) -> sources.DataInfo:
    """What the config's data is (:func:`latentlab.data.sources.open_source`), checked to
    leave each training stage at least one batch after the held-out split.

    Raises:
      ValueError: one line naming the key or file and the fix.
    """
    return sources.describe(_open_checked(config, home))


def data_summary(config: dict, home: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """:func:`data_source`'s report plus ``grids``: the paths of PNG grids of preprocessed
    training images, one per class (or one for unlabelled data), written in ``out_dir``."""
    section = config.get("data") or {}
    source = _open_checked(config, home)
    grids = sources.write_class_grids(source, section.get("holdout", 0), out_dir,
                                      section.get("classes"))
    return {**sources.describe(source)._asdict(), "grids": grids}


def _open_checked(config: dict, home: str | os.PathLike):
    section = config.get("data") or {}
    source = sources.open_source(section, home)
    holdout = section.get("holdout", 0)
    examples = len(source) - holdout
    if section.get("classes") is not None:
        examples = len(sources.training_indices(source, holdout, section["classes"]))
    check_training_examples(config, examples)
    return source


def check_training_examples(config: dict, examples: int) -> None:
    """Raises ValueError (one line) if a training stage's batch is larger than the
    ``examples`` left for training (an epoch would hold no batch)."""
    for stage, section in sorted((config.get("train") or {}).items()):
        batch = section.get("batch_size") if isinstance(section, dict) else None
        if isinstance(batch, int) and batch > examples:
            raise ValueError(f"data.holdout: leaves {examples} training examples, fewer than "
                             f"train.{stage}.batch_size {batch}; hold out fewer, train on more "
                             "data.classes or use smaller batches")
