"""A text-to-image request on a model folder (imported, or written by text-conditioned training):
checked, then sampled, as ``./latentlab sample MODEL`` and a text run's own samples take it.

A request is checked against the model's ``sd_model.json`` before anything loads
(:func:`check_request`: every option, the size against the model's downsampling, the model
whole). :func:`generate` encodes each prompt once (a prompt longer than the text encoder's
context is cut, with a warning naming how many tokens), draws image i's initial latents from
``fold_in(noise key, i)`` of the seed's sampling keys (:func:`latentlab.sampling.sampling_keys`;
the sampler key drives a stochastic sampler's noise), samples all images in one jitted call
with classifier-free guidance against the negative prompt (empty: the unconditional
embedding) and decodes them. :func:`latentlab.apps.text_to_image.sample` writes them into a
folder.

Image to image (SDEdit, what diffusers' img2img pipeline does): with ``init_image`` (a file
of any format Pillow reads, cropped to the request's size as ``data.resize: crop`` does) and
``strength`` s in (0, 1] (default 0.8), the image's VAE latents (the posterior mean, so the
result is a function of the request) are noised to the σ of step N − ⌊N·s⌋ of the N-step grid
and only the last ⌊N·s⌋ steps are sampled: s near 0 keeps the picture, 1 starts from almost
pure noise. The request records the image's SHA-256, so another image is another request.

Inpainting: with a ``mask`` as well (white repainted, black kept, cropped like the image; a
latent pixel is repainted if any pixel it covers is), every prediction of x0 is replaced by
the image's latents where the mask keeps them (:meth:`TextToImage.sample`'s ``known``), so
any sampler fills the white region around the kept one; the strength defaults to 1.0 then.

Same model, request and backend → the same image bytes on CPU.
"""

import hashlib
import math
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from latentlab import sampling
from latentlab.data import preprocess
from latentlab.diffusion import samplers, schedules
from latentlab.models.sd import importer
from latentlab.models.sd.tokenizer import truncation_message
from latentlab.models.sd.unet import UNet2DConditionConfig

# What a request holds; Java sends every key (its own defaults filled). Null leaves the model-
# or sampler-derived ones to :func:`check_request`: ``spacing`` (the scheduler's timestep
# spacing), ``eta`` (the sampler's own), ``rho`` (LatentLab's), ``size`` (the model's own).
REQUEST_KEYS = ("prompts", "negative_prompt", "guidance_scale", "steps", "sampler", "spacing",
                "eta", "rho", "size", "seed", "num_images")
# Image to image: absent or null for text to image (and then left out of the checked request,
# so a text-to-image request is what it was before them). ``init_image_sha256`` is derived.
IMAGE_KEYS = ("init_image", "strength", "mask", "init_image_sha256", "mask_sha256")
DEFAULT_STRENGTH = 0.8  # diffusers' img2img default
DEFAULT_INPAINT_STRENGTH = 1.0  # and its inpainting pipelines' 
MAX_IMAGES = 64  # images of one request, sampled as one batch
MAX_SEED = 2 ** 32 - 1  # JAX's keys keep 32 bits of a seed (without x64): larger ones collide
REQUIRED_COMPONENTS = ("unet", "vae", "text_encoder")


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _configs(folder: Path, meta: dict):
    """(U-Net config, VAE config) of a whole imported model.

    Raises:
      ValueError: ``<folder>: …`` if the model cannot text-to-image.
    """
    components = meta.get("components", {})
    missing = [c for c in REQUIRED_COMPONENTS if c not in components]
    if missing or "tokenizer" not in meta or "diffusion" not in meta:
        held = ", ".join(components) or "nothing"
        raise ValueError(f"{folder}: holds {held} only; sampling needs a whole model (unet, vae, "
                         "text_encoder, tokenizer, scheduler): import its diffusers folder")
    from latentlab.models.sd import config as config_lib
    where = f"{folder}/sd_model.json"
    unet = config_lib.from_dict(UNet2DConditionConfig, components["unet"]["config"],
                                f"{where}: components.unet.config")
    vae_class = components["vae"]["class"]
    if vae_class not in importer.COMPONENTS:
        raise ValueError(f"{where}: components.vae.class: {vae_class!r} is not a VAE LatentLab "
                         "knows; import the model again")
    vae = config_lib.from_dict(importer.COMPONENTS[vae_class].config_cls,
                               components["vae"]["config"], f"{where}: components.vae.config")
    if unet.addition_embed_type == "text_time" and (
            "text_encoder_2" not in components or "tokenizer_2" not in meta):
        raise ValueError(f"{folder}: an SDXL U-Net (addition_embed_type 'text_time') without "
                         "text_encoder_2 and tokenizer_2; import the whole SDXL diffusers folder")
    return unet, vae


def check_request(folder: str | Path, request: dict) -> dict:
    """The request with the model- and sampler-derived values filled (see
    :data:`REQUEST_KEYS`), checked against the model in ``folder`` without loading it.

    Raises:
      ValueError: one line. About an option it starts with the option's name as the command
        line spells it, without dashes (``size: …``); about the model with ``folder``.
    """
    folder = Path(folder)
    meta = importer.read_meta(folder)
    unet, vae = _configs(folder, meta)
    unknown = sorted(set(request) - set(REQUEST_KEYS) - set(IMAGE_KEYS))
    if unknown:
        raise ValueError(f"request: unknown key {unknown[0]!r}; allowed: "
                         f"{', '.join(REQUEST_KEYS + IMAGE_KEYS[:3])}")
    absent = [k for k in REQUEST_KEYS if k not in request]
    if absent:
        raise ValueError(f"request: missing {', '.join(absent)} (null leaves spacing, eta, rho "
                         "and size to the model and sampler)")
    r = dict(request)
    prompts = r["prompts"]
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError("prompt: give one or more prompts (an empty one samples unconditionally)")
    if not isinstance(r["negative_prompt"], str):
        raise ValueError("negative-prompt: must be text (empty: the unconditional embedding)")
    if r["sampler"] not in samplers.SAMPLERS:
        raise ValueError(f"sampler: unknown value {r['sampler']!r}; allowed: "
                         f"{', '.join(samplers.SAMPLERS)}")
    diffusion = meta["diffusion"]
    r["spacing"] = r["spacing"] or diffusion["timestep_spacing"]
    if r["spacing"] not in schedules.SPACINGS:
        raise ValueError(f"spacing: unknown value {r['spacing']!r}; allowed: "
                         f"{', '.join(schedules.SPACINGS)} (default: the model's scheduler's "
                         f"{diffusion['timestep_spacing']})")
    most = diffusion["num_timesteps"] if r["spacing"] in schedules.TIMESTEP_SPACINGS else None
    if not _integer(r["steps"]) or r["steps"] < 1 or (most and r["steps"] > most):
        raise ValueError(f"steps: must be an integer in [1, {most or 'any'}], got {r['steps']!r}")
    sampling.check_guidance(r["guidance_scale"], "guidance")
    sampling.check_eta(r["eta"], "eta")
    r["eta"] = samplers.eta_or_default(r["sampler"], r["eta"])
    r["rho"] = schedules.DEFAULT_RHO if r["rho"] is None else r["rho"]
    if not (isinstance(r["rho"], (int, float)) and math.isfinite(r["rho"]) and r["rho"] > 0):
        raise ValueError(f"rho: must be a positive number, got {r['rho']!r}")
    factor = vae.downsampling_factor * unet.downsampling_factor
    native = unet.sample_size * vae.downsampling_factor
    r["size"] = native if r["size"] is None else r["size"]
    if not _integer(r["size"]) or r["size"] < 1 or r["size"] % factor:
        raise ValueError(
            f"size: {r['size']!r} pixels does not fit this model: its VAE downsamples by "
            f"{vae.downsampling_factor} and its U-Net by {unet.downsampling_factor} more, so the "
            f"size must be a multiple of {factor} (this model's own: {native})")
    if not _integer(r["seed"]) or not 0 <= r["seed"] <= MAX_SEED:
        raise ValueError(f"seed: must be an integer in [0, {MAX_SEED}], got {r['seed']!r}")
    if not _integer(r["num_images"]) or r["num_images"] < 1:
        raise ValueError(f"images: must be an integer >= 1, got {r['num_images']!r}")
    if len(prompts) * r["num_images"] > MAX_IMAGES:
        raise ValueError(f"images: {len(prompts)} prompts × {r['num_images']} images is more "
                         f"than {MAX_IMAGES} in one request; split it")
    checked = {k: r[k] for k in REQUEST_KEYS}
    checked.update(_check_init_image(r))
    return checked


def _check_init_image(r: dict) -> dict:
    """The image-to-image keys of a request whose other keys are checked: {} without an init
    image, else the image's (and an inpainting mask's) absolute path and SHA-256 (read now; a
    request checked earlier must name the same bytes) and the strength."""
    image, strength, mask = r.get("init_image"), r.get("strength"), r.get("mask")
    if image is None:
        for key, value in (("strength", strength), ("mask", mask)):
            if value is not None:
                raise ValueError(f"{key}: only with an init image (--init-image FILE); remove it")
        return {}
    checked = {}
    for key, value in (("init_image", image), ("mask", mask)):
        if value is not None:
            checked[key], checked[f"{key}_sha256"] = _image_file(key, value,
                                                                 r.get(f"{key}_sha256"))
    strength = strength if strength is not None else (
        DEFAULT_STRENGTH if mask is None else DEFAULT_INPAINT_STRENGTH)
    if not isinstance(strength, (int, float)) or isinstance(strength, bool) \
            or not 0.0 < strength <= 1.0:
        raise ValueError(f"strength: must be in (0, 1], got {strength!r}")
    if steps_sampled({**r, "strength": strength}) < 1:
        raise ValueError(f"strength: {strength} of {r['steps']} steps samples no step; raise "
                         f"--strength or --steps (their product must be at least 1)")
    return {**checked, "strength": float(strength)}


def _image_file(key: str, value, recorded: str | None) -> tuple[str, str]:
    """(absolute path, SHA-256) of the image file a request names under ``key``; a request
    checked earlier (``recorded``) must name the same bytes."""
    option = key.replace("_", "-")
    if not isinstance(value, str) or not value:
        raise ValueError(f"{option}: give an image file's path, got {value!r}")
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"{option}: no file at {path}")
    data = path.read_bytes()
    try:
        preprocess.verify(data, str(path))
    except ValueError as e:  # the data section's advice does not apply here
        raise ValueError(f"{option}: " + str(e).split("; replace or remove")[0]) from None
    digest = hashlib.sha256(data).hexdigest()
    if recorded not in (None, digest):
        raise ValueError(f"{option}: {path} changed since the request was checked; "
                         "run the command again")
    return str(path), digest


def steps_sampled(request: dict) -> int:
    """How many of the request's steps are sampled: all of them, or from an init image the
    last ⌊steps · strength⌋ (diffusers' rule)."""
    if request.get("init_image") is None:
        return request["steps"]
    return int(request["steps"] * request["strength"])


def keep_mask(model, request: dict) -> np.ndarray:
    """Which latent pixels inpainting keeps [1, h, w, 1] (1 keep, 0 repaint), from the request's
    mask cropped to its size as the init image is: white (≥ 128 in grey) is repainted, as in
    diffusers; a latent pixel is repainted if any pixel it covers is."""
    size, factor = request["size"], model.vae_config.downsampling_factor
    prep = preprocess.Preprocessing(size, size, 1, "crop")
    repaint = preprocess.load(request["mask"], request["mask"], prep)[..., 0] >= 128
    side = size // factor
    blocks = repaint.reshape(side, factor, side, factor).any(axis=(1, 3))
    return (~blocks).astype(np.float32)[None, :, :, None]


def image_channels(vae_config) -> int:
    """The pictures' channels of a VAE component's config: AutoencoderKL's ``in_channels``,
    LatentLab's VAE's ``image_channels`` (1 for a model trained on grey pictures)."""
    return getattr(vae_config, "in_channels", None) or vae_config.image_channels


def init_latents(model, request: dict) -> np.ndarray:
    """The init image's latents z0 [1, h, w, c] as the U-Net sees them: the VAE posterior's
    mean of the image cropped to the request's size (in the VAE's channels), times the model's
    scaling factor."""
    prep = preprocess.Preprocessing(request["size"], request["size"],
                                    image_channels(model.vae_config), "crop")
    pixels = preprocess.load(request["init_image"], request["init_image"], prep)
    return model.encode_image(pixels[None].astype(np.float32) / 127.5 - 1.0)


def generate(model, request: dict):
    """Images uint8 [B, H, W, 3] of a checked request (:func:`check_request`) with a loaded
    :class:`latentlab.models.sd.pipeline.TextToImage`, B = prompts × num_images (each prompt's
    images together), the tokens cut from each prompt and from the negative prompt, and the
    final latents [B, h, w, c] (scaled, as the U-Net sees them).
    A cut prompt is warned of (UserWarning)."""
    prompts, per_prompt = request["prompts"], request["num_images"]
    length = model.tokenizer.max_length
    negative = [request["negative_prompt"]]
    ids, cuts = model.tokenize(prompts)
    negative_ids, (negative_cut,) = model.tokenize(negative)
    for prompt, cut in zip(prompts + negative, cuts + [negative_cut]):
        if cut:
            warnings.warn(truncation_message(prompt, cut, length), stacklevel=2)
    context = model.encode_ids(ids)
    null_context = model.zeros_for(negative, model.encode_ids(negative_ids))
    count = len(prompts) * per_prompt
    context = jax.tree.map(lambda c: jnp.repeat(c, per_prompt, axis=0), context)
    null_context = jax.tree.map(lambda c: jnp.repeat(c, count, axis=0), null_context)
    factor = model.vae_config.downsampling_factor
    side = request["size"] // factor
    noise_key, sampler_key = sampling.sampling_keys(request["seed"])
    shape = (side, side, model.unet.config.in_channels)
    latents = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(noise_key, i), shape))(
        jnp.arange(count))
    sigmas = model.sigmas(request["steps"], request["spacing"], request["rho"])
    known = None
    if request.get("init_image") is not None:  # SDEdit: the image noised to the first σ kept
        sigmas = sigmas[request["steps"] - steps_sampled(request):]
        start = float(sigmas[0])
        # the sampler takes diffusers' x_T = (z0 + σ ε) / √(1 + σ²), see TextToImage.sample
        z0 = init_latents(model, request)
        latents = (z0 + start * latents) / math.sqrt(1.0 + start ** 2)
        if request.get("mask") is not None:  # inpainting: the kept latents stay z0
            known = (z0, keep_mask(model, request))
    final, images = model.sample(context, null_context, latents, sigmas,
                                 request["guidance_scale"], request["sampler"], sampler_key,
                                 request["eta"], known)
    images = np.asarray(images, np.float32)
    pixels = np.round(np.clip(images / 2.0 + 0.5, 0.0, 1.0) * 255.0).astype(np.uint8)
    return pixels, cuts, negative_cut, final
