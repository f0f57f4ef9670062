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
from latentlab.data import mnist, preprocess, sources
from latentlab.diffusion import samplers, schedules
from latentlab.models import UNet, VAE
from latentlab.models.fields import resolve_section
from latentlab.train import text

MODEL_SECTIONS = {"vae": VAE, "unet": UNet}
TEXT_SECTION = "text_encoder"  # with it, a text model: see latentlab.train.text


def resolve(config: dict) -> dict:
    """Returns a copy of ``config`` with model and execution sections filled with their
    defaults, and the sampler's own η where the config leaves ``sample.eta`` out.

    Raises:
      ValueError: ``key.path: what is wrong; what is allowed`` for the first problem found.
    """
    config = copy.deepcopy(config)
    models = config.get("model") or {}
    allowed = set(MODEL_SECTIONS) | {TEXT_SECTION, text.PRESET}
    unknown = sorted(set(models) - allowed)
    if unknown:
        raise ValueError(f"model.{unknown[0]}: unknown model section; allowed: "
                         f"{', '.join(sorted(allowed))}")
    data = config.get("data") or {}
    if text.init_of(config) is not None:  # fine-tuning: the imported model brings its sections
        if models:
            raise ValueError(f"model.{sorted(models)[0]}: train.unet.init fine-tunes an "
                             "imported model, whose own sections are used; remove model")
        config["model"] = {}
        text.check_prompts(config.get("sample"))
    elif text.is_text_model(config):  # model.unet is a UNet2DConditionModel's (train/text.py)
        config["model"] = {"vae": resolve_section(VAE, models.get("vae"), "model.vae")}
        _fill_image_channels(config["model"], models.get("vae") or {}, data)
        _check_model_shapes(config["model"], data)
        vae = config["model"]["vae"]
        sides = tuple(side // 2 ** (len(vae["channel_mult"]) - 1)
                      for side in data_resolution(data))
        config["model"].update(text.resolve_sections(models, vae["latent_channels"], sides,
                                                     config.get("sample")))
    if text.init_of(config) is not None or text.is_text_model(config):
        if (config.get("tracking") or {}).get("previews"):
            raise ValueError("tracking.previews: not yet for text models (model.text_encoder or "
                             "train.unet.init); remove it")
    else:
        config["model"] = {name: resolve_section(cls, models.get(name), f"model.{name}")
                           for name, cls in MODEL_SECTIONS.items()}
        _fill_image_channels(config["model"], models.get("vae") or {}, data)
        _check_model_shapes(config["model"], data)
        if (config.get("sample") or {}).get("prompts") is not None:
            raise ValueError("sample.prompts: only a text model (one with a model.text_encoder "
                             "section) samples prompts; remove it")
    _check_choice(config, ("diffusion", "beta_schedule"), schedules.BETA_SCHEDULES)
    _check_choice(config, ("sample", "sampler"), samplers.SAMPLERS)
    _check_choice(config, ("sample", "spacing"), schedules.SPACINGS)
    if (config.get("data") or {}).get("classes") is not None:
        # the digits' ten classes are known now; another set's, once it is opened
        config["data"]["classes"] = list(mnist.check_classes(
            config["data"]["classes"], num_classes=mnist.NUM_CLASSES if _digits(config["data"]) else None))
    config["execution"] = execution.resolve(config.get("execution"))
    sample = config.get("sample")
    if sample is not None and sample.get("sampler"):
        sample["eta"] = samplers.eta_or_default(sample["sampler"], sample.get("eta"))
    if sample is not None:
        sampling.check_eta(sample.get("eta"))
        if "guidance_scale" in sample:
            sampling.check_guidance(sample["guidance_scale"])
    return config


def data_resolution(data: dict) -> tuple[int, int]:
    """(H, W) the models see: ``data.resolution`` (an int or [h, w]), or the digits' 32×32."""
    value = data.get("resolution")
    if value is None:
        value = (mnist.MODEL_INPUT_SIZE if _digits(data) else preprocess.DEFAULT_RESOLUTION)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, value
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        return int(value[0]), int(value[1])
    raise ValueError(f"data.resolution: must be a positive int or [height, width], got {value!r}")


def data_channels(data: dict) -> int:
    """1 or 3: ``data.channels``, else the digits' one or the other data sets' three."""
    value = data.get("channels")
    if value is None:
        return mnist.MODEL_INPUT_CHANNELS if _digits(data) else preprocess.DEFAULT_CHANNELS
    return value


def _digits(data: dict) -> bool:
    return data.get("dataset", mnist.BUNDLED) in mnist.DATASETS


def _fill_image_channels(models: dict, given: dict, data: dict) -> None:
    """model.vae.image_channels follows data.channels where the config leaves it out (after
    Java computed the trial id from the config as written, so digit ids do not move)."""
    if "image_channels" not in given:
        models["vae"]["image_channels"] = data_channels(data)


def _check_model_shapes(models: dict, data: dict) -> None:
    """What the two model sections must agree on with the data and with each other: the
    data's channels, and downsampling that divides the images' and the latents' sides (an odd
    side breaks the decoder's and the U-Net's way back up)."""
    vae = models["vae"]
    channels = data_channels(data)
    if vae["image_channels"] != channels:
        raise ValueError(f"model.vae.image_channels: must be data.channels {channels}, got "
                         f"{vae['image_channels']}; leave it out to follow the data")
    sides = data_resolution(data)
    # a text model's U-Net is checked by latentlab.train.text
    shaped = [(name, models[name]) for name in ("vae", "unet")
              if "channel_mult" in models.get(name, {})]
    for name, section in shaped:
        levels = len(section["channel_mult"])
        factor = 2 ** (levels - 1)
        if any(side % factor for side in sides):
            raise ValueError(f"model.{name}.channel_mult: {levels} levels downsample by "
                             f"{factor}, which does not divide the {sides[0]}×{sides[1]} "
                             f"{'images' if name == 'vae' else 'latents'}; use fewer levels")
        sides = tuple(side // factor for side in sides)  # the U-Net works on the VAE's latents


def check_data_shapes(config: dict, shape: tuple[int, int, int], num_classes: int) -> None:
    """Raises ValueError (one line) if the opened data's images [H, W, C] or its classes do
    not fit the resolved model sections."""
    data = dict(config.get("data") or {})
    data["resolution"], data["channels"] = [int(shape[0]), int(shape[1])], int(shape[2])
    _check_model_shapes(config["model"], data)
    unet_classes = config["model"]["unet"].get("num_classes", 0)  # a text model has none
    if unet_classes and num_classes > unet_classes:  # 0: unconditional, labels unused
        raise ValueError(f"model.unet.num_classes: {config['model']['unet']['num_classes']} "
                         f"does not cover the data's {num_classes} classes; set it to at least "
                         f"{num_classes}")


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
    if section.get("classes") is not None:
        if not source.classes:
            raise ValueError(f"data.classes: {section['classes']} selects classes, but "
                             f"{section.get('dataset')} data here has no labels; leave it out")
        names = ", ".join(f"{i} {name}" for i, name in enumerate(source.classes))
        mnist.check_classes(section["classes"], num_classes=len(source.classes),
                            key=f"data.classes (the data's classes: {names})")
    examples = len(sources.training_indices(source, holdout, section.get("classes"),
                                            section.get("limit")))
    check_training_examples(config, examples)
    return source


def check_training_examples(config: dict, examples: int) -> None:
    """Raises ValueError (one line) if a training stage's batch is larger than the
    ``examples`` left for training (an epoch would hold no batch)."""
    limit = (config.get("data") or {}).get("limit")
    for stage, section in sorted((config.get("train") or {}).items()):
        batch = section.get("batch_size") if isinstance(section, dict) else None
        if isinstance(batch, int) and batch > examples:
            if limit is not None and examples == limit:
                raise ValueError(f"data.limit: {limit} training examples, fewer than "
                                 f"train.{stage}.batch_size {batch}; raise the limit or use "
                                 "smaller batches")
            raise ValueError(f"data.holdout: leaves {examples} training examples, fewer than "
                             f"train.{stage}.batch_size {batch}; hold out fewer, train on more "
                             "data.classes or use smaller batches")
