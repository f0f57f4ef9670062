"""Key names of the original (CompVis/Stability, "LDM") single-file checkpoints → diffusers'.

A single file holds ``model.diffusion_model.*`` (the U-Net), ``first_stage_model.*`` (the
autoencoder) and ``cond_stage_model.transformer.*`` (SD 1.x's CLIP text encoder in
transformers' own names). The tables below are written from the two layouts: the LDM U-Net
numbers its blocks flat (``input_blocks.k``, ``output_blocks.k``: k counts resnets and
resamplers), the LDM autoencoder numbers its decoder from the bottom (``up.0`` is diffusers'
last up block) and keeps its attention projections as 1×1 convolutions.
"""

import re

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer."
OPEN_CLIP_PREFIX = "cond_stage_model.model."

_UNET_RESNET = (("in_layers.0.", "norm1."), ("in_layers.2.", "conv1."),
                ("emb_layers.1.", "time_emb_proj."), ("out_layers.0.", "norm2."),
                ("out_layers.3.", "conv2."), ("skip_connection.", "conv_shortcut."))
_UNET_FIXED = (("time_embed.0.", "time_embedding.linear_1."),
               ("time_embed.2.", "time_embedding.linear_2."),
               ("label_emb.0.0.", "add_embedding.linear_1."),
               ("label_emb.0.2.", "add_embedding.linear_2."),
               ("input_blocks.0.0.", "conv_in."), ("out.0.", "conv_norm_out."),
               ("out.2.", "conv_out."))
_VAE_ATTENTION = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v",
                  "proj_out": "to_out.0"}


def _resnet(rest: str) -> str:
    for old, new in _UNET_RESNET:
        if rest.startswith(old):
            return new + rest[len(old):]
    return rest


def unet_key(key: str, layers_per_block: int) -> str:
    """An LDM U-Net key (without ``model.diffusion_model.``) → diffusers' key."""
    for old, new in _UNET_FIXED:
        if key.startswith(old):
            return new + key[len(old):]
    per_block = layers_per_block + 1
    m = re.match(r"input_blocks\.(\d+)\.(\d+)\.(.*)", key)
    if m:
        k, part, rest = int(m[1]), int(m[2]), m[3]
        block, layer = divmod(k - 1, per_block)
        if layer == layers_per_block:  # the block's downsampler
            return f"down_blocks.{block}.downsamplers.0.conv." + rest.removeprefix("op.")
        if part == 0:
            return f"down_blocks.{block}.resnets.{layer}." + _resnet(rest)
        return f"down_blocks.{block}.attentions.{layer}.{rest}"
    m = re.match(r"middle_block\.(\d)\.(.*)", key)
    if m:
        part, rest = int(m[1]), m[2]
        if part == 1:
            return "mid_block.attentions.0." + rest
        return f"mid_block.resnets.{part // 2}." + _resnet(rest)
    m = re.match(r"output_blocks\.(\d+)\.(\d+)\.(.*)", key)
    if m:
        k, part, rest = int(m[1]), int(m[2]), m[3]
        block, layer = divmod(k, per_block)
        if part > 0 and rest.startswith("conv."):  # the block's upsampler
            return f"up_blocks.{block}.upsamplers.0." + rest
        if part == 0:
            return f"up_blocks.{block}.resnets.{layer}." + _resnet(rest)
        return f"up_blocks.{block}.attentions.{layer}.{rest}"
    return "unknown:" + key


def vae_key(key: str, num_blocks: int) -> str:
    """An LDM autoencoder key (without ``first_stage_model.``) → diffusers' key."""
    key = key.replace("nin_shortcut.", "conv_shortcut.")
    m = re.match(r"(encoder|decoder)\.(.*)", key)
    if not m:
        return key  # quant_conv, post_quant_conv
    part, rest = m[1], m[2]
    if rest.startswith("norm_out."):
        return f"{part}.conv_norm_out." + rest[len("norm_out."):]
    m = re.match(r"mid\.block_([12])\.(.*)", rest)
    if m:
        return f"{part}.mid_block.resnets.{int(m[1]) - 1}.{m[2]}"
    m = re.match(r"mid\.attn_1\.(\w+)\.(.*)", rest)
    if m:
        return f"{part}.mid_block.attentions.0.{_VAE_ATTENTION.get(m[1], m[1])}.{m[2]}"
    m = re.match(r"down\.(\d+)\.block\.(\d+)\.(.*)", rest)
    if m:
        return f"{part}.down_blocks.{m[1]}.resnets.{m[2]}.{m[3]}"
    m = re.match(r"down\.(\d+)\.downsample\.(.*)", rest)
    if m:
        return f"{part}.down_blocks.{m[1]}.downsamplers.0.{m[2]}"
    m = re.match(r"up\.(\d+)\.block\.(\d+)\.(.*)", rest)
    if m:
        return f"{part}.up_blocks.{num_blocks - 1 - int(m[1])}.resnets.{m[2]}.{m[3]}"
    m = re.match(r"up\.(\d+)\.upsample\.(.*)", rest)
    if m:
        return f"{part}.up_blocks.{num_blocks - 1 - int(m[1])}.upsamplers.0.{m[2]}"
    return f"{part}.{rest}"


def text_key(key: str) -> str:
    """A ``cond_stage_model.transformer.`` key (without it) → transformers' key."""
    return key if key.startswith("text_model.") else "text_model." + key
