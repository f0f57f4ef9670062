"""Text-conditioned latent diffusion: a Stable-Diffusion-architecture U-Net
(:class:`~latentlab.models.sd.unet.UNet2DConditionModel`) and a CLIP-architecture text encoder
(:class:`~latentlab.models.sd.clip.CLIPTextModel`) trained together from scratch on captioned
images, on the latents of the run's own VAE; or an imported model's U-Net fine-tuned
(``train.unet.init``, :meth:`TextModel.from_model`: its VAE, tokenizer and text encoder kept).

A config is a text model's when it has a ``model.text_encoder`` section or a ``model.preset``
(``sd15`` or ``sd21``: that model's full-size U-Net and text encoder, with its prediction; the
VAE stays the run's own, and sections given beside it override its keys); then ``model.unet``
is a ``UNet2DConditionModel`` config (diffusers' keys, plus ``prediction``) and
``sample.prompts`` says what the run samples. Unknown keys are refused; the rest is filled:
the U-Net's in and out channels from the VAE's latent channels, its ``sample_size`` from the
latents' side, its ``cross_attention_dim`` from the text encoder's width, the text encoder's
vocabulary and special-token ids from the tokenizer.

The tokenizer is CLIP's byte-level BPE (:class:`~latentlab.models.sd.tokenizer.CLIPTokenizer`,
Hugging Face ``tokenizers``) over a vocabulary made from the training captions by
:func:`write_tokenizer`: the byte alphabet, then every caption word whole, the most frequent
first. (``tokenizers``' own BPE trainer breaks ties differently from run to run: five
trainings on the emoji names gave two different merge lists; a run must be the same bytes
every time.) A word the captions never had is spelled in characters.

Caption dropout (``train.unet.label_dropout``) replaces a caption by the empty prompt, so the
one network also learns the unconditional prediction that classifier-free guidance needs, and
sampling guides against the empty prompt's embedding as with any imported model.

After training the run writes its model as a model folder (the layout ``./latentlab import``
writes, LatentLab's own VAE its ``vae`` component: :data:`latentlab.models.sd.importer.OWN_VAE`)
and samples ``sample.prompts`` through :mod:`latentlab.models.sd.request`, exactly as
``./latentlab sample FOLDER --prompt …`` does afterwards.
"""

import collections
import dataclasses
import json
from pathlib import Path

import flax.linen as nn
import jax
import numpy as np

from latentlab import checkpoint
from latentlab.diffusion import schedules
from latentlab.diffusion.parameterization import PREDICTIONS
from latentlab.files import write_atomically
from latentlab.models.sd import config as config_lib
from latentlab.models.sd import importer
from latentlab.models.sd.clip import CLIPTextConfig, CLIPTextModel
from latentlab.models.sd.tokenizer import WHOLE_WORDS, CLIPTokenizer, byte_alphabet, words
from latentlab.models.sd.unet import UNet2DConditionConfig, UNet2DConditionModel
from latentlab.models.vae import VAEComponentConfig

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
TOKENIZER = "tokenizer"
MODEL_FOLDER = "model"  # under the run's checkpoint folder
# Keys of model.text_encoder that the tokenizer fills (see the module docstring).
TEXT_FILLED = ("vocab_size", "bos_token_id", "eos_token_id", "pad_token_id")


PRESET = "preset"  # model.preset: a full-size architecture's U-Net and text encoder


def is_text_model(config: dict) -> bool:
    models = config.get("model") or {}
    return "text_encoder" in models or PRESET in models


def _preset_sections(name) -> tuple[dict, dict, str]:
    """(U-Net keys, text encoder keys, prediction) of ``model.preset`` (see
    :mod:`latentlab.models.sd.presets`), without the keys the run fills."""
    from latentlab.models.sd import presets
    if name not in presets.PRESETS:
        raise ValueError(f"model.preset: unknown value {name!r}; allowed: "
                         f"{', '.join(presets.names())}")
    spec = presets.PRESETS[name]
    if "text_encoder_2" in spec:
        raise ValueError(f"model.preset: {name} has a second text encoder and size embeddings, "
                         "which text models trained here do not have; use sd15 or sd21")
    unet = {k: v for k, v in spec["unet"]["config"].items()
            if k not in ("in_channels", "out_channels", "sample_size", "cross_attention_dim")}
    text = {k: v for k, v in spec["text_encoder"]["config"].items() if k not in TEXT_FILLED}
    prediction = importer.PREDICTION_TYPES[spec["scheduler"].get("prediction_type", "epsilon")]
    return unet, text, prediction


def _check_keys(section, cls, where: str, extra=(), filled: dict | None = None) -> dict:
    """``section`` without the keys the run fills (``filled``: key → the value it fills, or
    None where only the data knows it); a resolved section's own fills are taken back.

    Raises:
      ValueError: an unknown key, or one the run fills given another value.
    """
    filled = filled or {}
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise ValueError(f"{where}: must be a mapping of {cls.__name__} keys")
    known = {f.name for f in dataclasses.fields(cls)} | set(extra)
    for key in sorted(section):
        if key not in known:
            raise ValueError(f"{where}.{key}: unknown key; a {cls.__name__} takes "
                             f"{', '.join(sorted(known - set(filled)))}")
        if key in filled and section[key] != filled[key]:
            raise ValueError(f"{where}.{key}: set by the run (from the VAE, the latents or "
                             "the tokenizer); leave it out")
    return {k: v for k, v in section.items() if k not in filled}


def resolve_sections(models: dict, latent_channels: int, latent_sides: tuple[int, int],
                     sample: dict | None) -> dict:
    """The ``unet`` and ``text_encoder`` sections of a text model's config, checked and
    filled as far as the config alone allows (the vocabulary comes with the data).

    Raises:
      ValueError: one line naming the key.
    """
    preset = models.get(PRESET)
    base_unet, base_text, base_prediction = ({}, {}, "eps") if preset is None \
        else _preset_sections(preset)
    text = _check_keys(models.get("text_encoder"), CLIPTextConfig, "model.text_encoder",
                       filled=dict.fromkeys(TEXT_FILLED))
    text = {**base_text, **text}
    # a stand-in vocabulary to check the rest now; the tokenizer sets the real one
    text_cfg = config_lib.from_dict(CLIPTextConfig, {**text, "vocab_size": 3},
                                    "model.text_encoder")
    if latent_sides[0] != latent_sides[1]:
        raise ValueError(f"data.resolution: a text model samples square pictures; the latents "
                         f"are {latent_sides[0]}×{latent_sides[1]}")
    fills = {"in_channels": latent_channels, "out_channels": latent_channels,
             "sample_size": latent_sides[0], "cross_attention_dim": text_cfg.hidden_size}
    unet = _check_keys(models.get("unet"), UNet2DConditionConfig, "model.unet",
                       extra=("prediction",), filled=fills)
    unet = {**base_unet, **unet}
    prediction = unet.pop("prediction", base_prediction)
    if prediction not in PREDICTIONS:
        raise ValueError(f"model.unet.prediction: unknown value {prediction!r}; allowed: "
                         f"{', '.join(PREDICTIONS)}")
    unet.update(fills)
    unet_cfg = config_lib.from_dict(UNet2DConditionConfig, unet, "model.unet")
    if unet_cfg.addition_embed_type is not None:
        raise ValueError("model.unet.addition_embed_type: SDXL's extra embeddings take a second "
                         "text encoder, which text models trained here do not have; remove it")
    if latent_sides[0] % unet_cfg.downsampling_factor:
        raise ValueError(f"model.unet.block_out_channels: {len(unet_cfg.block_out_channels)} "
                         f"levels downsample by {unet_cfg.downsampling_factor}, which does not "
                         f"divide the {latent_sides[0]}×{latent_sides[0]} latents; use fewer "
                         "levels")
    check_prompts(sample)
    sections = {"unet": {**config_lib.to_dict(unet_cfg), "prediction": prediction},
                "text_encoder": {k: v for k, v in config_lib.to_dict(text_cfg).items()
                                 if k not in TEXT_FILLED}}
    if preset is not None:  # kept for the record; the sections above are what it gave
        sections[PRESET] = preset
    return sections


def check_prompts(sample: dict | None) -> None:
    """Raises ValueError (one line) unless ``sample.prompts`` lists prompts over which
    ``sample.num_samples`` splits evenly."""
    if sample is None:
        return
    prompts = sample.get("prompts")
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str)
                                                               for p in prompts):
        raise ValueError("sample.prompts: a text model samples prompts; list one or more "
                         "(an empty one samples unconditionally)")
    if sample.get("num_samples", len(prompts)) % len(prompts):
        raise ValueError(f"sample.num_samples: {sample['num_samples']} does not split evenly "
                         f"over the {len(prompts)} prompts; use a multiple of {len(prompts)}")
    from latentlab.models.sd.request import MAX_IMAGES  # the sample request's own limit
    if sample.get("num_samples", 0) > MAX_IMAGES:
        raise ValueError(f"sample.num_samples: {sample['num_samples']} is more than the "
                         f"{MAX_IMAGES} a text run samples at its end; sample more afterwards "
                         "with ./latentlab sample on its model folder")


def init_of(config: dict) -> str | None:
    """``train.unet.init``: the imported model a run fine-tunes, or None."""
    return ((config.get("train") or {}).get("unet") or {}).get("init")


def init_folder(name: str, home) -> Path:
    """The folder of the model ``train.unet.init`` names: ``models/<name>`` in the project
    ``home``, or a model folder inside it (without a home: ``name`` is the folder).

    Raises:
      ValueError: no such model (one line, with the fix).
    """
    if home is None:
        candidates = [Path(name)]
    else:
        home = Path(home).resolve()
        candidates = [home / "models" / name, (home / name).resolve()]
    for folder in candidates:
        if (home is None or folder.is_relative_to(home)) and (folder / "sd_model.json").is_file():
            return folder
    raise ValueError(f"train.unet.init: no imported model {name!r} (in models/ or a model folder "
                     f"in the project); import one with ./latentlab import PATH --name {name}")


# --- the tokenizer --------------------------------------------------------------------------

def write_tokenizer(captions, folder: Path, max_length: int) -> None:
    """A CLIP tokenizer folder (``vocab.json``, ``merges.txt``, ``tokenizer_config.json``)
    whose vocabulary is the byte alphabet (each character alone and ending a word), every word
    of ``captions`` whole (most frequent first, ties alphabetically), and the start and end
    tokens last, as in CLIP's. There are no merges: the config marks the vocabulary's words
    whole (:data:`latentlab.models.sd.tokenizer.WHOLE_WORDS`), so a caption word is one token
    and any other word is spelled in characters. (Merges that build each word from its left
    end, tried first, split 1,312 of the emoji names' 1,786 words: a frequent word's merges
    win inside a rarer one, as BPE ranks them.) The same captions give the same bytes."""
    counts = collections.Counter(w for caption in captions for w in words(caption))
    alphabet = byte_alphabet()
    vocab = alphabet + [c + "</w>" for c in alphabet]
    vocab += [w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
              if len(w) > 1]
    vocab += [BOS, EOS]
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / "vocab.json", json.dumps(
        {token: i for i, token in enumerate(vocab)}, ensure_ascii=False).encode())
    write_atomically(folder / "merges.txt", b"#version: 0.2\n")
    write_atomically(folder / "tokenizer_config.json", json.dumps(
        {"model_max_length": max_length, "bos_token": BOS, "eos_token": EOS, "pad_token": EOS,
         "unk_token": EOS, WHOLE_WORDS: True}, indent=2).encode())


def captions_of(source, indices) -> list[str]:
    """The captions of examples ``indices``, each of them required.

    Raises:
      ValueError: an example without a caption (one line naming it and the fix).
    """
    if hasattr(source, "captions") and source.captions is None:
        raise ValueError("data: this data set has no captions, and a text model "
                         "(model.text_encoder) trains on captions; give every image one "
                         "(metadata.jsonl, a caption column or KEY.txt)")
    held = getattr(source, "captions", None)
    captions = ([held[int(i)] for i in indices] if held is not None
                else [source[int(i)].caption for i in indices])
    for i, caption in zip(indices, captions):
        if caption is None:
            raise ValueError(f"data: example {int(i)} has no caption, and a text model "
                             "(model.text_encoder) trains on captions; give every image one "
                             "(metadata.jsonl, a caption column or KEY.txt)")
    return captions


# --- the model ------------------------------------------------------------------------------

class TextDenoiser(nn.Module):
    """The U-Net conditioned on the text encoder's last hidden states of the token ids it is
    given, as one module (``unet`` and ``text_encoder`` its parameters' two subtrees), so the
    training loop of the class-conditional U-Net trains it: the ids stand where the labels
    do, and :attr:`null_label` is the empty prompt's ids."""

    unet_config: UNet2DConditionConfig
    text_config: CLIPTextConfig
    prediction: str
    empty_ids: tuple[int, ...]
    frozen_text: bool = False

    @property
    def null_label(self):
        return np.asarray(self.empty_ids, np.int32)

    def setup(self):
        self.unet = UNet2DConditionModel(self.unet_config)
        self.text_encoder = CLIPTextModel(self.text_config)

    def __call__(self, x, timesteps, ids):
        states, _ = self.text_encoder(ids)
        if self.frozen_text:  # no gradients through it (and none into the reported norm)
            states = jax.lax.stop_gradient(states)
        return self.unet(x, timesteps, states)


class TextModel:
    """A text model to train: :attr:`denoiser`, the token :attr:`ids` of the training
    captions, the tokenizer, and (fine-tuning) the weights it starts from. Made from a
    resolved config (:meth:`from_config`, from scratch) or an imported model
    (:meth:`from_model`)."""

    def __init__(self, unet_config, text_config, prediction: str, tokenizer_folder: Path,
                 captions, init_params=None):
        self.unet_config, self.text_config, self.prediction = unet_config, text_config, prediction
        self.tokenizer_folder = tokenizer_folder
        self.tokenizer = CLIPTokenizer(tokenizer_folder, text_config.max_position_embeddings)
        self.ids, cuts = self.tokenizer.encode(captions)
        self.captions_cut = int(sum(1 for c in cuts if c))
        # the text encoder of an imported model stays as it is (as fine-tuning SD usually
        # does); one trained from scratch learns with the U-Net
        self.frozen = ("text_encoder",) if init_params is not None else ()
        empty, _ = self.tokenizer.encode([""])
        self.denoiser = TextDenoiser(unet_config, text_config, prediction,
                                     tuple(int(i) for i in empty[0]), bool(self.frozen))
        self.init_params = init_params

    @classmethod
    def from_config(cls, config: dict, captions, tokenizer_folder: Path) -> "TextModel":
        """From scratch: the tokenizer made from ``captions`` in ``tokenizer_folder``."""
        sections = config["model"]
        text = sections["text_encoder"]
        length = int(text.get("max_position_embeddings", 77))
        write_tokenizer(captions, tokenizer_folder, length)
        tokenizer = CLIPTokenizer(tokenizer_folder, length)
        text_config = config_lib.from_dict(
            CLIPTextConfig, {**text, "vocab_size": len(tokenizer.vocabulary()),
                             "bos_token_id": tokenizer.bos_id, "eos_token_id": tokenizer.eos_id,
                             "pad_token_id": tokenizer.pad_id}, "model.text_encoder")
        unet = dict(sections["unet"])
        prediction = unet.pop("prediction")
        return cls(config_lib.from_dict(UNet2DConditionConfig, unet, "model.unet"), text_config,
                   prediction, tokenizer_folder, captions)

    @classmethod
    def from_model(cls, folder: Path, captions, key: str) -> "TextModel":
        """Fine-tuning the imported model in ``folder`` (named by config key ``key``): its
        tokenizer, U-Net and text encoder, starting from its weights."""
        loaded = importer.load_imported(folder)
        meta = loaded["meta"]
        missing = [c for c in ("unet", "vae", "text_encoder") if c not in loaded]
        if missing or "tokenizer" not in meta or "diffusion" not in meta:
            raise ValueError(f"{key}: {folder} is not a whole text model (it lacks "
                             f"{', '.join(missing) or 'a tokenizer or scheduler'}); import a "
                             "diffusers folder")
        if "text_encoder_2" in loaded:
            raise ValueError(f"{key}: {folder} is an SDXL model; fine-tuning SDXL (two text "
                             "encoders, size embeddings) is not supported yet")
        model = cls(loaded["configs"]["unet"], loaded["configs"]["text_encoder"],
                    meta["diffusion"]["prediction"], folder / meta["tokenizer"], captions,
                    {"unet": loaded["unet"][1], "text_encoder": loaded["text_encoder"][1]})
        model.source = loaded
        return model

    def save(self, out: Path, name: str, params: dict, vae: tuple, diffusion: dict,
             trained: dict | None = None) -> None:
        """Writes the trained model as a model folder (see the module docstring): the U-Net and
        text encoder of ``params`` (the EMA weights; a frozen part as it started: its average
        of equal values holds them only to the last bit), ``vae`` = (class name, config,
        params), the tokenizer, and ``diffusion`` (the settings ``sd_model.json`` holds).
        ``trained`` (the optimiser's own weights) must hold each frozen part bit for bit.

        Raises:
          RuntimeError: a frozen part moved (a defect, not a user's error).
        """
        for key in self.frozen:
            same = jax.tree.leaves(jax.tree.map(
                lambda a, b: bool(np.array_equal(np.asarray(a), np.asarray(b))),
                (trained or params)[key], self.init_params[key]))
            if not all(same):
                raise RuntimeError(f"{key}: frozen, yet its weights moved in training")
        params = {**params, **{k: self.init_params[k] for k in self.frozen}}
        vae_class, vae_config, vae_params = vae
        weights = {"unet": params["unet"], "vae": vae_params,
                   "text_encoder": params["text_encoder"]}
        local = jax.tree.map(np.asarray, weights)
        meta = {"format": importer.FORMAT, "name": name, "source": "trained",
                "source_kind": "trained", "weights_sha256": checkpoint.weights_digest(local),
                "components": {
                    "unet": importer.component_meta("UNet2DConditionModel", self.unet_config,
                                                    weights["unet"]),
                    "vae": importer.component_meta(vae_class, vae_config, weights["vae"]),
                    "text_encoder": importer.component_meta("CLIPTextModel", self.text_config,
                                                            weights["text_encoder"])},
                "diffusion": diffusion}
        importer.save_model(out, weights, meta, {TOKENIZER: self.tokenizer_folder})


def pin_init(training: Path, init: dict) -> None:
    """Records which weights a fine-tuning run starts from (``init.json`` in its training
    folder) the first time, and refuses them changed when the run goes on: ``models/NAME``
    re-imported with other weights under the same name would otherwise resume one model's
    U-Net beside another's VAE and text encoder.

    Raises:
      ValueError: one line naming the key and both hashes.
    """
    file = training / "init.json"
    if file.is_file():
        pinned = json.loads(file.read_text())["weights_sha256"]
        if pinned != init["weights_sha256"]:
            raise ValueError(f"train.unet.init: {init['path']} holds other weights "
                             f"({init['weights_sha256'][:12]}) than this trial started from "
                             f"({pinned[:12]}); import those under another name, or rerun "
                             "the trial with --rerun")
        return
    if jax.process_index() == 0:
        training.mkdir(parents=True, exist_ok=True)
        write_atomically(file, json.dumps(init, sort_keys=True).encode())


def check_image_size(model: "TextModel", shape, key: str) -> None:
    """Raises ValueError (one line) unless the data's images [H, W, C] fit the imported
    model that ``key`` names: its VAE's channels, square, a side its VAE and U-Net divide."""
    from latentlab.models.sd.request import image_channels
    vae = model.source["configs"]["vae"]
    channels = image_channels(vae)
    factor = vae.downsampling_factor * model.unet_config.downsampling_factor
    if shape[2] != channels or shape[0] != shape[1] or shape[0] % factor:
        raise ValueError(f"{key}: the model takes square {channels}-channel pictures whose side "
                         f"is a multiple of {factor}; the data's are {shape[0]}×{shape[1]}×"
                         f"{shape[2]} (set data.resolution and data.channels)")


def own_vae(config: dict, params, scale: float) -> tuple:
    """(class name, config, params) of the run's own trained VAE as a model's component."""
    return (importer.OWN_VAE,
            config_lib.from_dict(VAEComponentConfig, {**config["model"]["vae"],
                                                      "scaling_factor": scale}, "model.vae"),
            params)


def diffusion_of(config: dict, prediction: str) -> dict:
    """A run's diffusion settings as a model folder's ``sd_model.json`` holds them, its
    ``sample.spacing`` the model's own."""
    d = config["diffusion"]
    return {"beta_schedule": d["beta_schedule"], "num_timesteps": d["num_timesteps"],
            "beta_start": d["beta_start"], "beta_end": d["beta_end"], "prediction": prediction,
            "timestep_spacing": config["sample"].get("spacing") or schedules.DEFAULT_SPACING,
            "steps_offset": 0, "set_alpha_to_one": True}


def text_fetch(base_fetch, ids: np.ndarray):
    """A loader fetch giving (means, log_vars, token ids) from one giving (means, log_vars,
    labels) over the same rows (the training examples in order)."""
    def fetch(positions, step, rows=slice(None)):
        means, log_vars, _ = base_fetch(positions, step, rows)
        return means, log_vars, ids[np.asarray(positions)[rows]]
    return fetch


def sample_request(config: dict, size: int) -> dict:
    """The run's samples as a ``./latentlab sample`` request: ``sample.prompts`` against the
    empty prompt, ``num_samples`` split evenly over them, the run's seed and sampler, pictures
    of ``size`` (the data's)."""
    s = config["sample"]
    prompts = list(s["prompts"])
    return {"prompts": prompts, "negative_prompt": "", "guidance_scale": s["guidance_scale"],
            "steps": s["steps"], "sampler": s["sampler"], "spacing": s.get("spacing"),
            "eta": s.get("eta"), "rho": s.get("rho"), "seed": config["seed"], "size": size,
            "num_images": s["num_samples"] // len(prompts)}

