"""Makes python/tests/fixtures/sd-tiny: tiny random Stable Diffusion components saved by
diffusers/transformers (a diffusers folder, a single-file LDM checkpoint, one lone component),
the inputs, and the PyTorch reference outputs the Flax parity tests compare with.

Runs in its own throwaway environment (make_fixtures.sh makes it); torch is never a dependency
of LatentLab. Everything is written as safetensors/JSON (no pickle). Usage:
    python make_fixtures.py OUT_DIR            # everything
    python make_fixtures.py --counts OUT_DIR   # only the presets' parameter counts
    python make_fixtures.py --sdxl OUT_DIR     # only the tiny SDXL, its single file, its reference
    python make_fixtures.py --sd2 OUT_DIR      # only the tiny SD 2.x, its single file, its reference
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import diffusers
import transformers
from diffusers import (AutoencoderKL, DDIMScheduler, StableDiffusionPipeline,
                       UNet2DConditionModel)
from safetensors.numpy import save_file
from safetensors.torch import save_file as save_torch
from transformers import (CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection,
                          CLIPTokenizer)

torch.manual_seed(0)
torch.use_deterministic_algorithms(True)

WORDS = ["a", "red", "cat", "dog", "blue", "on", "the", "mat", "photo", "of"]


def tiny_tokenizer(folder: Path, max_length: int) -> CLIPTokenizer:
    """A CLIP BPE over the lower-case letters: every letter, alone and word-final, ``</w>``
    itself, and merges that make each of WORDS one token."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = ["!", ",", "."] + letters + [p + "</w>" for p in ["!", ",", "."] + letters] + ["</w>"]
    merges = []
    for word in WORDS:
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            merges.append(f"{parts[0]} {parts[1]}")
            parts = [parts[0] + parts[1]] + parts[2:]
            if parts[0] not in tokens:
                tokens.append(parts[0])
    merges = list(dict.fromkeys(merges))
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                              model_max_length=max_length)
    shutil.rmtree(folder)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def np32(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().numpy()


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


PRESETS = Path(__file__).resolve().parents[2] / "python/latentlab/models/sd/presets.json"
MODELS = {"UNet2DConditionModel": lambda c: UNet2DConditionModel(**c),
          "AutoencoderKL": lambda c: AutoencoderKL(**c),
          "CLIPTextModel": lambda c: CLIPTextModel(CLIPTextConfig(**c)),
          "CLIPTextModelWithProjection": lambda c: CLIPTextModelWithProjection(CLIPTextConfig(**c))}


def preset_counts() -> dict:
    """Parameter counts of every preset's components (presets.json, LatentLab's own file),
    built by diffusers and transformers on the meta device (no weights)."""
    counts = {}
    with torch.device("meta"):
        for preset, components in json.loads(PRESETS.read_text()).items():
            counts[preset] = {name: count(MODELS[spec["class"]](spec["config"]))
                              for name, spec in components.items() if name != "scheduler"}
    return counts


# --- diffusers → original LDM key names (diffusers' own converter checks the result) ---------

UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
               "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}


def ldm_unet_key(key: str, config) -> str:
    L = config.layers_per_block
    p = key.split(".")
    rest = lambda n: ".".join(p[n:])
    def resnet(tail):
        head, _, leaf = tail.partition(".")
        return UNET_RESNET[head] + "." + leaf
    if p[0] == "conv_in":
        return "input_blocks.0.0." + rest(1)
    if p[0] == "time_embedding":
        return {"linear_1": "time_embed.0", "linear_2": "time_embed.2"}[p[1]] + "." + rest(2)
    if p[0] == "add_embedding":
        return {"linear_1": "label_emb.0.0", "linear_2": "label_emb.0.2"}[p[1]] + "." + rest(2)
    if p[0] == "conv_norm_out":
        return "out.0." + rest(1)
    if p[0] == "conv_out":
        return "out.2." + rest(1)
    if p[0] == "mid_block":
        j = int(p[2])
        if p[1] == "resnets":
            return f"middle_block.{2 * j}." + resnet(rest(3))
        return "middle_block.1." + rest(3)
    i = int(p[1])
    if p[0] == "down_blocks":
        if p[2] == "downsamplers":
            return f"input_blocks.{(i + 1) * (L + 1)}.0.op." + rest(5)
        j = int(p[3])
        k = 1 + i * (L + 1) + j
        return f"input_blocks.{k}.0." + resnet(rest(4)) if p[2] == "resnets" else \
            f"input_blocks.{k}.1." + rest(4)
    if p[0] == "up_blocks":
        has_attention = config.up_block_types[i].startswith("CrossAttn")
        if p[2] == "upsamplers":
            return f"output_blocks.{i * (L + 1) + L}.{2 if has_attention else 1}.conv." + rest(5)
        j = int(p[3])
        k = i * (L + 1) + j
        return f"output_blocks.{k}.0." + resnet(rest(4)) if p[2] == "resnets" else \
            f"output_blocks.{k}.1." + rest(4)
    raise KeyError(key)


VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def ldm_vae_item(key: str, value: torch.Tensor, config):
    n = len(config.block_out_channels)
    key = key.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
    for part in ("encoder", "decoder"):
        key = key.replace(f"{part}.mid_block.resnets.0", f"{part}.mid.block_1")
        key = key.replace(f"{part}.mid_block.resnets.1", f"{part}.mid.block_2")
        if f"{part}.mid_block.attentions.0." in key:
            tail = key.split(f"{part}.mid_block.attentions.0.")[1]
            name, leaf = tail.rsplit(".", 1)
            key = f"{part}.mid.attn_1.{VAE_ATTENTION[name]}.{leaf}"
            if value.ndim == 2:
                value = value[:, :, None, None]  # the original keeps 1×1 convs
    p = key.split(".")
    if p[0] == "encoder" and p[1] == "down_blocks":
        tail = ".".join(p[4:])
        key = f"encoder.down.{p[2]}." + ("downsample." + ".".join(p[5:]) if p[3] == "downsamplers"
                                          else f"block.{p[4]}." + ".".join(p[5:]))
    if p[0] == "decoder" and p[1] == "up_blocks":
        i = n - 1 - int(p[2])
        key = f"decoder.up.{i}." + ("upsample." + ".".join(p[5:]) if p[3] == "upsamplers"
                                    else f"block.{p[4]}." + ".".join(p[5:]))
    return key, value


def ldm_checkpoint(unet, vae, text_encoder) -> dict:
    out = {}
    for k, v in unet.state_dict().items():
        out["model.diffusion_model." + ldm_unet_key(k, unet.config)] = v
    for k, v in vae.state_dict().items():
        k, v = ldm_vae_item(k, v, vae.config)
        out["first_stage_model." + k] = v
    if text_encoder is not None:  # SD 1.x: transformers' own names
        for k, v in text_encoder.state_dict().items():
            out["cond_stage_model.transformer." + k] = v
    return {k: v.contiguous() for k, v in out.items()}


def check_ldm_against_diffusers(ldm: dict, unet, vae):
    """diffusers' own LDM → diffusers converters must give back every tensor exactly."""
    from diffusers.loaders import single_file_utils as s
    unet_sd = s.convert_ldm_unet_checkpoint(ldm, dict(unet.config))
    vae_sd = s.convert_ldm_vae_checkpoint(ldm, dict(vae.config))
    for name, ours, theirs in (("unet", unet.state_dict(), unet_sd), ("vae", vae.state_dict(), vae_sd)):
        assert set(ours) == set(theirs), (name, set(ours) ^ set(theirs))
        for k in ours:
            assert torch.equal(ours[k], theirs[k].reshape(ours[k].shape)), (name, k)


def tiny_vae(**extra) -> AutoencoderKL:
    """The tiny autoencoder every fixture uses (two levels, 16 px images, 8 × 8 latents)."""
    return AutoencoderKL(
        block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        sample_size=16, **extra).eval()


def sd_ddim(prediction: str) -> DDIMScheduler:
    """Stable Diffusion's DDIM scheduler config (scaled-linear betas, leading spacing)."""
    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         clip_sample=False, set_alpha_to_one=False, steps_offset=1,
                         timestep_spacing="leading", prediction_type=prediction)


def shake(*models) -> None:
    """Random weights are near zero in places; shake every tensor so each one matters."""
    with torch.no_grad():
        for model in models:
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))


def fresh_folder(folder: Path, seed: int) -> Path:
    """An empty ``folder`` for one fixture, torch's generator seeded for its weights."""
    torch.manual_seed(seed)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def tiny_pipeline(folder: Path, text_encoder, tokenizer, unet,
                  prediction: str) -> StableDiffusionPipeline:
    """An SD 1.x/2.x pipeline of these components with the tiny VAE and SD's DDIM config (no
    safety checker), its weights shaken, saved as a diffusers folder into ``folder``."""
    vae = tiny_vae()
    shake(text_encoder, unet, vae)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   unet=unet, scheduler=sd_ddim(prediction), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    save_pipeline(pipe, folder)
    return pipe


def save_pipeline(pipe, folder: Path) -> None:
    pipe.save_pretrained(str(folder), safe_serialization=True)
    (folder / "LICENSE.txt").write_text("Tiny random weights for LatentLab's tests; public domain.\n")


def open_clip_items(text_encoder, prefix: str, extra_layers: int = 0,
                    projection: torch.Tensor | None = None) -> dict:
    """transformers' CLIP text model → OpenCLIP's names, as SD 2.x (``cond_stage_model.model.``)
    and SDXL (``conditioner.embedders.1.model.``) single files hold their text encoder: q, k, v
    packed into ``in_proj``, ``extra_layers`` random layers past the ones the model reads (SD
    2.x files hold 24, diffusers' encoder the first 23), a ``text_projection`` [D, P] (SDXL's:
    the model's own, transposed) and ``logit_scale``."""
    sd, config = text_encoder.state_dict(), text_encoder.config
    out = {prefix + "token_embedding.weight": sd["text_model.embeddings.token_embedding.weight"],
           prefix + "positional_embedding": sd["text_model.embeddings.position_embedding.weight"],
           prefix + "ln_final.weight": sd["text_model.final_layer_norm.weight"],
           prefix + "ln_final.bias": sd["text_model.final_layer_norm.bias"]}
    layers = config.num_hidden_layers
    for i in range(layers + extra_layers):
        ours, theirs = f"text_model.encoder.layers.{min(i, layers - 1)}.", f"{prefix}transformer.resblocks.{i}."
        pairs = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
                 "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
        for leaf in ("weight", "bias"):
            for name, source in pairs.items():
                value = sd[ours + source + "." + leaf]
                out[f"{theirs}{name}.{leaf}"] = value if i < layers else torch.randn_like(value)
            packed = torch.cat([sd[f"{ours}self_attn.{q}_proj.{leaf}"] for q in "qkv"])
            out[f"{theirs}attn.in_proj_{leaf}"] = packed if i < layers else torch.randn_like(packed)
    hidden = config.hidden_size
    out[prefix + "text_projection"] = (projection if projection is not None
                                       else torch.randn(hidden, hidden))
    out[prefix + "logit_scale"] = torch.tensor(4.6052)
    return out


def check_open_clip_against_diffusers(ldm: dict, text_encoder, prefix: str):
    """diffusers' own OpenCLIP → transformers converter must give back every tensor exactly
    (it also returns the layers past the model's, which it drops for SD 2.x's 24th)."""
    from diffusers.loaders import single_file_utils as s
    theirs = s.convert_open_clip_checkpoint(text_encoder, ldm, prefix=prefix)
    for key, ours in text_encoder.state_dict().items():
        if key.endswith("position_ids"):
            continue
        assert torch.equal(ours, theirs[key].reshape(ours.shape)), key


def sd2_fixture(out: Path) -> None:
    """A tiny random SD 2.x (v-prediction, linear projections, 64-wide... here 2- and 4-wide
    heads, an OpenCLIP-style gelu encoder): OUT/sd2 (a diffusers folder), OUT/tiny-sd2-ldm
    .safetensors (the same weights as one original single file, the text encoder in OpenCLIP's
    names) and OUT/sd2-reference.safetensors (10 DDIM steps with guidance, v-prediction)."""
    folder = fresh_folder(out / "sd2", seed=2)
    max_length = 16
    tokenizer = tiny_tokenizer(folder / "tokenizer", max_length)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer.get_vocab()), hidden_size=16, intermediate_size=32,
        num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=max_length,
        hidden_act="gelu", bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)).eval()
    unet = UNet2DConditionModel(
        sample_size=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
        attention_head_dim=(2, 4), use_linear_projection=True).eval()
    pipe = tiny_pipeline(folder, text_encoder, tokenizer, unet, "v_prediction")
    vae = pipe.vae
    ldm = ldm_checkpoint(unet, vae, None)
    check_ldm_against_diffusers(ldm, unet, vae)
    prefix = "cond_stage_model.model."
    with torch.no_grad():
        ldm.update(open_clip_items(text_encoder, prefix, extra_layers=1))
    check_open_clip_against_diffusers(ldm, text_encoder, prefix)
    save_torch({k: v.contiguous() for k, v in ldm.items()}, str(out / "tiny-sd2-ldm.safetensors"))

    rng = np.random.default_rng(2)
    ref = {}
    with torch.no_grad():
        init = torch.from_numpy(rng.standard_normal((1, 4, 8, 8)).astype(np.float32))
        ref["pipe.init_latents"] = init.numpy()
        final = pipe("a red cat", negative_prompt="", num_inference_steps=10, guidance_scale=7.5,
                     height=16, width=16, latents=init.clone(), output_type="latent").images
        ref["pipe.final_latents"] = np32(final)
        ref["pipe.image"] = np32(vae.decode(final / vae.config.scaling_factor).sample)
    save_file({k: np.ascontiguousarray(v) for k, v in ref.items()},
              str(out / "sd2-reference.safetensors"))
    info = json.loads((out / "versions.json").read_text())
    info["sd2"] = {"counts": {"unet": count(unet), "vae": count(vae),
                              "text_encoder": count(text_encoder)},
                   "pipeline": {"prompt": "a red cat", "negative_prompt": "", "steps": 10,
                                "guidance_scale": 7.5, "height": 16, "width": 16}}
    (out / "versions.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info["sd2"], indent=2))


def main(out: Path):
    for entry in out.iterdir() if out.exists() else ():  # all but the folder's README
        if entry.name != "README.md":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    folder = out / "diffusers"
    folder.mkdir(parents=True)
    max_length = 16
    tokenizer = tiny_tokenizer(folder / "tokenizer", max_length)
    vocab = len(tokenizer.get_vocab())
    clip_config = CLIPTextConfig(
        vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=max_length, hidden_act="quick_gelu",
        projection_dim=8, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    text_encoder = CLIPTextModel(clip_config).eval()
    unet = UNet2DConditionModel(
        sample_size=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
        attention_head_dim=2).eval()
    pipe = tiny_pipeline(folder, text_encoder, tokenizer, unet, "epsilon")
    vae = pipe.vae

    # (b) the same weights as one original (LDM) checkpoint
    ldm = ldm_checkpoint(unet, vae, text_encoder)
    check_ldm_against_diffusers(ldm, unet, vae)
    save_torch(ldm, str(out / "tiny-ldm.safetensors"))

    # (c) one component alone: an SD 2.x-style U-Net (linear projections, per-block heads,
    # two transformer layers per block), sharded to exercise the index file
    unet2 = UNet2DConditionModel(
        sample_size=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=12,
        attention_head_dim=(2, 4), use_linear_projection=True,
        transformer_layers_per_block=(1, 2)).eval()
    shake(unet2)
    unet2.save_pretrained(str(out / "unet-sd2"), safe_serialization=True, max_shard_size="200KB")

    rng = np.random.default_rng(0)
    ref = {}
    with torch.no_grad():
        # CLIP
        prompts = ["a photo of a red cat", "the blue dog on a mat!"]
        ids = tokenizer(prompts, padding="max_length", max_length=max_length, truncation=True,
                        return_tensors="pt").input_ids
        ref["clip.input_ids"] = ids.numpy().astype(np.int32)
        outputs = text_encoder(ids)
        ref["clip.last_hidden_state"] = np32(outputs.last_hidden_state)
        ref["clip.pooler_output"] = np32(outputs.pooler_output)
        ref["clip.hidden_states_minus2"] = np32(text_encoder(ids, output_hidden_states=True).hidden_states[-2])
        long_prompt = " ".join(WORDS * 2)
        ref["clip.long_ids"] = tokenizer(long_prompt, padding="max_length", max_length=max_length,
                                         truncation=True, return_tensors="np").input_ids.astype(np.int32)
        ref["clip.long_untruncated_length"] = np.array(len(tokenizer(long_prompt).input_ids), np.int32)
        # CLIP with projection (SDXL's second encoder), its own random weights
        projection = CLIPTextModelWithProjection(clip_config).eval()
        projection.save_pretrained(str(out / "text_encoder_2"), safe_serialization=True)
        ref["clip2.text_embeds"] = np32(projection(ids).text_embeds)
        # VAE
        images = torch.from_numpy(rng.uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32))
        ref["vae.images"] = images.numpy()
        dist = vae.encode(images).latent_dist
        ref["vae.mean"], ref["vae.logvar"] = np32(dist.mean), np32(dist.logvar)
        latents = torch.from_numpy(rng.standard_normal((2, 4, 8, 8)).astype(np.float32))
        ref["vae.latents"] = latents.numpy()
        ref["vae.decoded"] = np32(vae.decode(latents).sample)
        # U-Nets
        context = torch.from_numpy(rng.standard_normal((2, max_length, 16)).astype(np.float32))
        t = torch.tensor([999, 10])
        ref["unet.sample"], ref["unet.timesteps"], ref["unet.context"] = (
            latents.numpy(), t.numpy().astype(np.int32), context.numpy())
        ref["unet.out"] = np32(unet(latents, t, context).sample)
        context2 = torch.from_numpy(rng.standard_normal((2, 5, 12)).astype(np.float32))
        ref["unet2.context"] = context2.numpy()
        ref["unet2.out"] = np32(unet2(latents, t, context2).sample)
        # the pipeline: 10 DDIM steps, guidance 7.5, from given latents
        init = torch.from_numpy(rng.standard_normal((1, 4, 8, 8)).astype(np.float32))
        ref["pipe.init_latents"] = init.numpy()
        final = pipe("a red cat", negative_prompt="", num_inference_steps=10, guidance_scale=7.5,
                     height=16, width=16, latents=init.clone(), output_type="latent").images
        ref["pipe.final_latents"] = np32(final)
        ref["pipe.timesteps"] = pipe.scheduler.timesteps.numpy().astype(np.int32)
        ref["pipe.image"] = np32(vae.decode(final / vae.config.scaling_factor).sample)
    save_file({k: np.ascontiguousarray(v) for k, v in ref.items()}, str(out / "reference.safetensors"))
    info = {"torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__,
            "tiny_counts": {"unet": count(unet), "vae": count(vae),
                            "text_encoder": count(text_encoder), "unet-sd2": count(unet2),
                            "text_encoder_2": count(projection)},
            "preset_counts": preset_counts(),
            "pipeline": {"prompt": "a red cat", "negative_prompt": "", "steps": 10,
                         "guidance_scale": 7.5, "height": 16, "width": 16},
            "clip_prompts": prompts, "long_prompt": long_prompt}
    (out / "versions.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


def sdxl_fixture(out: Path) -> None:
    """A tiny random SDXL: OUT/sdxl (a diffusers folder: two text encoders and tokenizers, the
    second padding with "!", a U-Net with the text-time embedding, a VAE scaled by 0.13025)
    and OUT/sdxl-reference.safetensors (the prompt encoding, the U-Net, and the pipeline's 10
    DDIM steps with guidance 5 from given latents); its record goes into versions.json."""
    from diffusers import StableDiffusionXLPipeline
    folder = fresh_folder(out / "sdxl", seed=1)
    max_length = 16
    tokenizer = tiny_tokenizer(folder / "tokenizer", max_length)
    tokenizer_2 = CLIPTokenizer(str(folder / "tokenizer" / "vocab.json"),
                                str(folder / "tokenizer" / "merges.txt"),
                                model_max_length=max_length, pad_token="!")
    vocab = len(tokenizer.get_vocab())
    common = dict(vocab_size=vocab, max_position_embeddings=max_length,
                  bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2,
        hidden_act="quick_gelu", pad_token_id=tokenizer.pad_token_id, **common)).eval()
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(
        hidden_size=12, intermediate_size=24, num_hidden_layers=3, num_attention_heads=2,
        hidden_act="gelu", projection_dim=8, pad_token_id=tokenizer_2.pad_token_id,
        **common)).eval()
    unet = UNet2DConditionModel(
        sample_size=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16 + 12,
        attention_head_dim=(2, 4), use_linear_projection=True, transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time", addition_time_embed_dim=4,
        projection_class_embeddings_input_dim=8 + 6 * 4).eval()
    vae = tiny_vae(scaling_factor=0.13025)
    scheduler = sd_ddim("epsilon")
    shake(text_encoder, text_encoder_2, unet, vae)
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder,
                                     text_encoder_2=text_encoder_2, tokenizer=tokenizer,
                                     tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler,
                                     force_zeros_for_empty_prompt=True)
    save_pipeline(pipe, folder)

    rng = np.random.default_rng(1)
    ref = {}
    with torch.no_grad():
        prompts = ["a red cat", "the blue dog on a mat"]
        embeds, _, pooled, _ = pipe.encode_prompt(prompts, do_classifier_free_guidance=False)
        ref["encode.prompt_embeds"], ref["encode.pooled"] = np32(embeds), np32(pooled)
        latents = torch.from_numpy(rng.standard_normal((2, 4, 8, 8)).astype(np.float32))
        t = torch.tensor([999, 10])
        time_ids = torch.tensor([[16.0, 16.0, 0.0, 0.0, 16.0, 16.0], [32.0, 24.0, 4.0, 2.0, 16.0, 16.0]])
        ref["unet.sample"], ref["unet.timesteps"] = latents.numpy(), t.numpy().astype(np.int32)
        ref["unet.context"], ref["unet.text_embeds"] = np32(embeds), np32(pooled)
        ref["unet.time_ids"] = time_ids.numpy()
        ref["unet.out"] = np32(unet(latents, t, embeds, added_cond_kwargs={
            "text_embeds": pooled, "time_ids": time_ids}).sample)
        init = torch.from_numpy(rng.standard_normal((1, 4, 8, 8)).astype(np.float32))
        ref["pipe.init_latents"] = init.numpy()
        final = pipe("a red cat", num_inference_steps=10, guidance_scale=5.0, height=16, width=16,
                     latents=init.clone(), output_type="latent").images
        ref["pipe.final_latents"] = np32(final)
        ref["pipe.image"] = np32(vae.decode(final / vae.config.scaling_factor).sample)
    save_file({k: np.ascontiguousarray(v) for k, v in ref.items()},
              str(out / "sdxl-reference.safetensors"))
    # the same weights as one original (sgm) single file: CLIP ViT-L in transformers' names,
    # the second encoder in OpenCLIP's with its projection
    ldm = ldm_checkpoint(unet, vae, None)
    check_ldm_against_diffusers(ldm, unet, vae)
    for k, v in text_encoder.state_dict().items():
        ldm["conditioner.embedders.0.transformer." + k] = v
    prefix = "conditioner.embedders.1.model."
    with torch.no_grad():
        ldm.update(open_clip_items(text_encoder_2, prefix,
                                   projection=text_encoder_2.text_projection.weight.T))
    check_open_clip_against_diffusers(ldm, text_encoder_2, prefix)
    save_torch({k: v.contiguous() for k, v in ldm.items()}, str(out / "tiny-sdxl-ldm.safetensors"))
    info = json.loads((out / "versions.json").read_text())
    info["sdxl"] = {"counts": {"unet": count(unet), "vae": count(vae),
                               "text_encoder": count(text_encoder),
                               "text_encoder_2": count(text_encoder_2)},
                    "pipeline": {"prompt": "a red cat", "negative_prompt": None, "steps": 10,
                                 "guidance_scale": 5.0, "height": 16, "width": 16},
                    "encode_prompts": prompts}
    (out / "versions.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info["sdxl"], indent=2))


def update_counts(out: Path) -> None:
    """Only the presets' counts in OUT_DIR/versions.json (the fixtures' weights untouched)."""
    info = json.loads((out / "versions.json").read_text())
    info["preset_counts"] = preset_counts()
    info.pop("sd15_counts", None)  # the earlier record of the sd15 preset alone
    (out / "versions.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info["preset_counts"], indent=2))


if __name__ == "__main__":
    if sys.argv[1] == "--counts":
        update_counts(Path(sys.argv[2]))
    elif sys.argv[1] == "--sdxl":
        sdxl_fixture(Path(sys.argv[2]))
    elif sys.argv[1] == "--sd2":
        sd2_fixture(Path(sys.argv[2]))
    else:
        main(Path(sys.argv[1]))
        sdxl_fixture(Path(sys.argv[1]))
        sd2_fixture(Path(sys.argv[1]))
