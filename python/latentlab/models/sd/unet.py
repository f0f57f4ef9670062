"""Stable Diffusion's text-conditioned U-Net, in the layout of diffusers'
``UNet2DConditionModel`` (SD 1.x, 2.x; SDXL's config keys are carried and its text-time
embedding built): latents [B, h, w, C], timesteps [B] and text states [B, L, D] → the
prediction [B, h, w, C] (ε or v, per the scheduler's ``prediction_type``).

Heads follow diffusers exactly: a block's head count is ``num_attention_heads`` or, where a
config leaves it out (all SD 1.x/2.x configs do), ``attention_head_dim``; the head width is the
block's channels / heads. So SD 1.x's ``attention_head_dim: 8`` means 8 heads of 40-160 wide,
and SD 2.x's ``[5, 10, 20, 20]`` means heads 64 wide.
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from latentlab.models.sd.blocks import (Downsample2D, ResnetBlock2D, Transformer2DModel,
                                        Upsample2D, conv, group_norm)
from latentlab.models.sd.config import required

DOWN_BLOCKS = ("CrossAttnDownBlock2D", "DownBlock2D")
UP_BLOCKS = ("CrossAttnUpBlock2D", "UpBlock2D")


@dataclasses.dataclass(frozen=True)
class UNet2DConditionConfig:
    block_out_channels: tuple = required()
    cross_attention_dim: int = required()
    in_channels: int = 4
    out_channels: int = 4
    sample_size: int = 64
    down_block_types: tuple = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                               "CrossAttnDownBlock2D", "DownBlock2D")
    up_block_types: tuple = ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                             "CrossAttnUpBlock2D")
    mid_block_type: str = "UNetMidBlock2DCrossAttn"
    layers_per_block: int = 2
    downsample_padding: int = 1
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    act_fn: str = "silu"
    attention_head_dim: object = 8           # int or one per block: heads, see the docstring
    num_attention_heads: object = None
    transformer_layers_per_block: object = 1  # int or one per block (SDXL: 1, 2, 10)
    use_linear_projection: bool = False
    flip_sin_to_cos: bool = True
    freq_shift: int = 0
    center_input_sample: bool = False
    upcast_attention: bool = False
    only_cross_attention: bool = False
    dual_cross_attention: bool = False
    class_embed_type: object = None
    resnet_time_scale_shift: str = "default"
    time_embedding_type: str = "positional"
    conv_in_kernel: int = 3
    conv_out_kernel: int = 3
    # SDXL: text_time additional embeddings (pooled text embeddings and the size/crop ids).
    addition_embed_type: object = None
    addition_time_embed_dim: object = None
    projection_class_embeddings_input_dim: object = None

    def per_block(self, value) -> tuple:
        n = len(self.block_out_channels)
        return tuple(value) if isinstance(value, tuple) else (value,) * n

    @property
    def downsampling_factor(self) -> int:
        """How much the U-Net shrinks its input: each block but the last halves it, so latents
        must be a multiple of this (the skips of the up blocks must fit)."""
        return 2 ** (len(self.block_out_channels) - 1)

    @property
    def heads(self) -> tuple:
        """Head count of each block (diffusers' ``num_attention_heads or attention_head_dim``)."""
        return self.per_block(self.num_attention_heads or self.attention_head_dim)

    @property
    def transformer_layers(self) -> tuple:
        return self.per_block(self.transformer_layers_per_block)

    def check(self):
        n = len(self.block_out_channels)
        if len(self.down_block_types) != n or len(self.up_block_types) != n:
            yield "down_block_types", f"need one down and one up block per block_out_channels ({n})"
        for t in self.down_block_types:
            if t not in DOWN_BLOCKS:
                yield "down_block_types", f"unsupported block {t!r}; supported: {', '.join(DOWN_BLOCKS)}"
        for t in self.up_block_types:
            if t not in UP_BLOCKS:
                yield "up_block_types", f"unsupported block {t!r}; supported: {', '.join(UP_BLOCKS)}"
        if self.mid_block_type != "UNetMidBlock2DCrossAttn":
            yield "mid_block_type", f"only UNetMidBlock2DCrossAttn is supported, got {self.mid_block_type!r}"
        for key in ("heads", "transformer_layers"):
            if len(getattr(self, key)) != n:
                yield ("attention_head_dim" if key == "heads" else "transformer_layers_per_block"), \
                    f"need one value per block ({n})"
        for channels, heads in zip(self.block_out_channels, self.heads):
            if channels % heads:
                yield "attention_head_dim", f"{heads} heads do not divide {channels} channels"
        for key, ok in (("act_fn", self.act_fn == "silu"),
                        ("resnet_time_scale_shift", self.resnet_time_scale_shift == "default"),
                        ("time_embedding_type", self.time_embedding_type == "positional"),
                        ("class_embed_type", self.class_embed_type is None),
                        ("only_cross_attention", self.only_cross_attention in (False, (False,) * n)),
                        ("dual_cross_attention", not self.dual_cross_attention),
                        ("addition_embed_type", self.addition_embed_type in (None, "text_time"))):
            if not ok:
                yield key, f"value {getattr(self, key)!r} is not supported yet"


def timestep_embedding(timesteps, dim: int, flip_sin_to_cos: bool, freq_shift: float,
                       max_period: float = 10_000.0):
    """diffusers' ``get_timestep_embedding``: [B] → [B, dim], [sin, cos] or [cos, sin]."""
    half = dim // 2
    exponent = -math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / (half - freq_shift)
    angles = timesteps.astype(jnp.float32)[:, None] * jnp.exp(exponent)[None, :]
    sin, cos = jnp.sin(angles), jnp.cos(angles)
    return jnp.concatenate([cos, sin] if flip_sin_to_cos else [sin, cos], axis=-1)


class TimestepEmbedding(nn.Module):
    dim: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.dim, name="linear_2")(nn.silu(nn.Dense(self.dim, name="linear_1")(x)))


class _Block(nn.Module):
    """A down block (``up=False``: resnets[, attentions], downsampler) or an up block (each
    resnet first concatenates a skip; upsampler last)."""

    config: UNet2DConditionConfig
    channels: int
    layers: int
    attention: bool
    heads: int
    transformer_layers: int
    resample: bool
    up: bool = False

    @nn.compact
    def __call__(self, h, temb, context, skips=None):
        c = self.config
        outputs = []
        for j in range(self.layers):
            if self.up:
                h = jnp.concatenate([h, skips.pop()], axis=-1)
            h = ResnetBlock2D(self.channels, c.norm_num_groups, c.norm_eps,
                              name=f"resnets_{j}")(h, temb)
            if self.attention:
                h = Transformer2DModel(self.heads, self.channels // self.heads,
                                       self.transformer_layers, c.norm_num_groups,
                                       c.use_linear_projection, name=f"attentions_{j}")(h, context)
            outputs.append(h)
        if self.resample:
            if self.up:
                h = Upsample2D(self.channels, name="upsamplers_0")(h)
            else:
                h = Downsample2D(self.channels, c.downsample_padding, name="downsamplers_0")(h)
            outputs.append(h)
        return h, outputs


class _MidBlock(nn.Module):
    config: UNet2DConditionConfig

    @nn.compact
    def __call__(self, h, temb, context):
        c = self.config
        channels = h.shape[-1]
        heads = c.heads[-1]
        h = ResnetBlock2D(channels, c.norm_num_groups, c.norm_eps, name="resnets_0")(h, temb)
        h = Transformer2DModel(heads, channels // heads, c.transformer_layers[-1],
                               c.norm_num_groups, c.use_linear_projection,
                               name="attentions_0")(h, context)
        return ResnetBlock2D(channels, c.norm_num_groups, c.norm_eps, name="resnets_1")(h, temb)


class UNet2DConditionModel(nn.Module):
    """ε/v-prediction U-Net conditioned on text states through cross-attention."""

    config: UNet2DConditionConfig

    @nn.compact
    def __call__(self, x, timesteps, context, added_cond=None):
        # x: [B, h, w, C]; timesteps: [B] (int or float); context: [B, L, cross_attention_dim];
        # added_cond (SDXL text_time only): {"text_embeds": [B, P], "time_ids": [B, 6]}
        c = self.config
        channels = c.block_out_channels
        timesteps = jnp.broadcast_to(jnp.asarray(timesteps), (x.shape[0],))
        temb = timestep_embedding(timesteps, channels[0], c.flip_sin_to_cos, c.freq_shift)
        temb = TimestepEmbedding(4 * channels[0], name="time_embedding")(temb)
        if c.addition_embed_type == "text_time":
            if added_cond is None:
                raise ValueError("added_cond: this U-Net (addition_embed_type text_time) needs "
                                 "text_embeds and time_ids")
            ids = added_cond["time_ids"]
            time_embeds = timestep_embedding(ids.reshape(-1), c.addition_time_embed_dim,
                                             c.flip_sin_to_cos, c.freq_shift)
            extra = jnp.concatenate([added_cond["text_embeds"],
                                     time_embeds.reshape(ids.shape[0], -1)], axis=-1)
            temb = temb + TimestepEmbedding(4 * channels[0], name="add_embedding")(extra)
        if c.center_input_sample:
            x = 2 * x - 1.0

        h = conv(channels[0], c.conv_in_kernel, "conv_in")(x)
        skips = [h]
        last = len(channels) - 1
        for i, kind in enumerate(c.down_block_types):
            h, outputs = _Block(c, channels[i], c.layers_per_block, kind.startswith("CrossAttn"),
                                c.heads[i], c.transformer_layers[i], i != last,
                                name=f"down_blocks_{i}")(h, temb, context)
            skips += outputs
        h = _MidBlock(c, name="mid_block")(h, temb, context)
        heads = tuple(reversed(c.heads))
        layers = tuple(reversed(c.transformer_layers))
        for i, kind in enumerate(c.up_block_types):
            h, _ = _Block(c, channels[last - i], c.layers_per_block + 1,
                          kind.startswith("CrossAttn"), heads[i], layers[i], i != last,
                          up=True, name=f"up_blocks_{i}")(h, temb, context, skips)
        h = nn.silu(group_norm(c.norm_num_groups, c.norm_eps, "conv_norm_out")(h))
        return conv(c.out_channels, c.conv_out_kernel, "conv_out")(h)
