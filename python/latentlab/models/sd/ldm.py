"""Key names of the original (CompVis/Stability, "LDM") single-file checkpoints → diffusers'.

A single file holds ``model.diffusion_model.*`` (the U-Net), ``first_stage_model.*`` (the
autoencoder) and its text encoders: ``cond_stage_model.transformer.*`` (SD 1.x's CLIP, in
transformers' own names), ``cond_stage_model.model.*`` (SD 2.x's OpenCLIP ViT-H, in OpenCLIP's
names), or SDXL's ``conditioner.embedders.0.transformer.*`` and ``.1.model.*`` (one of each).
The tables below are written from the layouts: the LDM U-Net numbers its blocks flat
(``input_blocks.k``, ``output_blocks.k``: k counts resnets and resamplers), the LDM autoencoder
numbers its decoder from the bottom (``up.0`` is diffusers' last up block) and keeps its
attention projections as 1×1 convolutions.
"""

import re

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
# Text encoders by key prefix → the component they are: in transformers' names (SD 1.x, SDXL's
# first) or in OpenCLIP's (SD 2.x, SDXL's second; see open_clip_names).
TEXT_PREFIXES = {"cond_stage_model.transformer.": "text_encoder",
                 "conditioner.embedders.0.transformer.": "text_encoder"}
OPEN_CLIP_PREFIXES = {"cond_stage_model.model.": "text_encoder",
                      "conditioner.embedders.1.model.": "text_encoder_2"}

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


_OPEN_CLIP_LAYER = {"ln_1": "layer_norm1", "ln_2": "layer_norm2",
                    "attn.out_proj": "self_attn.out_proj", "mlp.c_fc": "mlp.fc1",
                    "mlp.c_proj": "mlp.fc2"}


def open_clip_names(keys, prefix: str, layers: int, projection: bool) -> dict:
    """{stored key (with a ``#part`` suffix where one tensor becomes several) → transformers'
    name} of the OpenCLIP text encoder under ``prefix``. Its packed ``attn.in_proj`` splits into
    q, k and v; the layers from ``layers`` on are left out (an SD 2.x file holds 24, and
    diffusers' encoder is the first 23: SD 2.x conditions on the penultimate layer), as are
    ``logit_scale`` and, unless the model has a projection (SDXL's second encoder), the
    ``text_projection``, which is stored [in, out] (transposed)."""
    fixed = {"token_embedding.weight": "text_model.embeddings.token_embedding.weight",
             "positional_embedding": "text_model.embeddings.position_embedding.weight",
             "ln_final.weight": "text_model.final_layer_norm.weight",
             "ln_final.bias": "text_model.final_layer_norm.bias"}
    names = {}
    for key in keys:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        packed = re.match(r"transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)$", rest)
        layer = re.match(r"transformer\.resblocks\.(\d+)\.(.*)\.(weight|bias)$", rest)
        if rest in fixed:
            names[key] = fixed[rest]
        elif rest == "text_projection":
            if projection:
                names[key + "#T"] = "text_projection.weight"
        elif rest == "logit_scale":
            continue
        elif packed:
            if int(packed[1]) < layers:
                for q in "qkv":
                    names[f"{key}#{q}"] = (f"text_model.encoder.layers.{packed[1]}.self_attn."
                                           f"{q}_proj.{packed[2]}")
        elif layer:
            if int(layer[1]) < layers:
                names[key] = (f"text_model.encoder.layers.{layer[1]}."
                              f"{_OPEN_CLIP_LAYER.get(layer[2], 'unknown:' + layer[2])}.{layer[3]}")
        else:
            names[key] = "unknown:" + rest
    return names
