"""Blocks of diffusers' U-Net and autoencoder, NHWC. Submodule names follow diffusers'
parameter names (``resnets_0`` for ``resnets.0``), which the importer maps one to one."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def group_norm(groups: int, eps: float, name: str):
    # Two-pass variance, as torch computes it (the one-pass form loses digits at 1e-4).
    return nn.GroupNorm(num_groups=groups, epsilon=eps, use_fast_variance=False, name=name)


def conv(features: int, kernel: int, name: str, stride: int = 1, padding=None):
    pad = kernel // 2 if padding is None else padding
    if isinstance(pad, int):
        pad = ((pad, pad), (pad, pad))
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=pad, name=name)


class ResnetBlock2D(nn.Module):
    """GroupNorm → SiLU → conv3, (+ the projected time embedding), GroupNorm → SiLU → conv3,
    plus the input (through a 1×1 ``conv_shortcut`` where the widths differ)."""

    out_channels: int
    groups: int = 32
    eps: float = 1e-6

    @nn.compact
    def __call__(self, x, temb=None):
        h = nn.silu(group_norm(self.groups, self.eps, "norm1")(x))
        h = conv(self.out_channels, 3, "conv1")(h)
        if temb is not None:
            h = h + nn.Dense(self.out_channels, name="time_emb_proj")(nn.silu(temb))[:, None, None]
        h = nn.silu(group_norm(self.groups, self.eps, "norm2")(h))
        h = conv(self.out_channels, 3, "conv2")(h)
        if x.shape[-1] != self.out_channels:
            x = conv(self.out_channels, 1, "conv_shortcut")(x)
        return x + h


def attention(q, k, v, heads: int):
    """Scaled dot-product attention (Vaswani et al. 2017): [B, Lq, D], [B, Lk, D] → [B, Lq, D],
    ``heads`` heads of width D/heads, logits scaled by 1/√(D/heads)."""
    batch, length, width = q.shape
    head_dim = width // heads
    split = lambda t: t.reshape(t.shape[0], t.shape[1], heads, head_dim)
    logits = jnp.einsum("bqhd,bkhd->bhqk", split(q), split(k)) / math.sqrt(head_dim)
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights, split(v))
    return out.reshape(batch, length, heads * head_dim)


class Attention(nn.Module):
    """diffusers' ``Attention``: to_q/to_k/to_v (bias as configured), to_out.0 with bias."""

    heads: int
    head_dim: int
    out_dim: int
    bias: bool = False

    @nn.compact
    def __call__(self, x, context=None):
        context = x if context is None else context
        inner = self.heads * self.head_dim
        q = nn.Dense(inner, use_bias=self.bias, name="to_q")(x)
        k = nn.Dense(inner, use_bias=self.bias, name="to_k")(context)
        v = nn.Dense(inner, use_bias=self.bias, name="to_v")(context)
        return nn.Dense(self.out_dim, name="to_out_0")(attention(q, k, v, self.heads))


class SpatialAttention(nn.Module):
    """The autoencoder's mid-block attention: one head over all positions, residual."""

    groups: int = 32
    eps: float = 1e-6

    @nn.compact
    def __call__(self, x):
        batch, height, width, channels = x.shape
        h = group_norm(self.groups, self.eps, "group_norm")(x).reshape(batch, -1, channels)
        q = nn.Dense(channels, name="to_q")(h)
        k = nn.Dense(channels, name="to_k")(h)
        v = nn.Dense(channels, name="to_v")(h)
        h = nn.Dense(channels, name="to_out_0")(attention(q, k, v, 1))
        return x + h.reshape(batch, height, width, channels)


class GEGLU(nn.Module):
    """Shazeer 2020: proj to 2×inner, value × GELU(gate) (exact GELU, as torch's default)."""

    inner: int

    @nn.compact
    def __call__(self, x):
        value, gate = jnp.split(nn.Dense(2 * self.inner, name="proj")(x), 2, axis=-1)
        return value * jax.nn.gelu(gate, approximate=False)


class FeedForward(nn.Module):
    dim: int
    mult: int = 4

    @nn.compact
    def __call__(self, x):
        h = GEGLU(self.dim * self.mult, name="net_0")(x)
        return nn.Dense(self.dim, name="net_2")(h)


class BasicTransformerBlock(nn.Module):
    """LayerNorm → self-attention, LayerNorm → cross-attention, LayerNorm → GEGLU MLP; each
    residual."""

    dim: int
    heads: int
    head_dim: int

    @nn.compact
    def __call__(self, x, context):
        x = x + Attention(self.heads, self.head_dim, self.dim, name="attn1")(
            nn.LayerNorm(1e-5, name="norm1")(x))
        x = x + Attention(self.heads, self.head_dim, self.dim, name="attn2")(
            nn.LayerNorm(1e-5, name="norm2")(x), context)
        return x + FeedForward(self.dim, name="ff")(nn.LayerNorm(1e-5, name="norm3")(x))


class Transformer2DModel(nn.Module):
    """GroupNorm → proj_in (1×1 conv, or linear with ``use_linear_projection``) → transformer
    blocks over the H·W positions → proj_out, plus the input."""

    heads: int
    head_dim: int
    layers: int = 1
    groups: int = 32
    use_linear_projection: bool = False

    @nn.compact
    def __call__(self, x, context):
        batch, height, width, channels = x.shape
        inner = self.heads * self.head_dim
        h = group_norm(self.groups, 1e-6, "norm")(x)
        if self.use_linear_projection:
            h = nn.Dense(inner, name="proj_in")(h.reshape(batch, -1, channels))
        else:
            h = conv(inner, 1, "proj_in")(h).reshape(batch, -1, inner)
        for i in range(self.layers):
            h = BasicTransformerBlock(inner, self.heads, self.head_dim,
                                      name=f"transformer_blocks_{i}")(h, context)
        if self.use_linear_projection:
            h = nn.Dense(channels, name="proj_out")(h).reshape(batch, height, width, channels)
        else:
            h = conv(channels, 1, "proj_out")(h.reshape(batch, height, width, inner))
        return x + h


class Downsample2D(nn.Module):
    """A stride-2 3×3 conv; ``padding`` 0 pads only right and bottom by one (the autoencoder's
    form), 1 pads every side."""

    channels: int
    padding: int = 1

    @nn.compact
    def __call__(self, x):
        pad = ((0, 1), (0, 1)) if self.padding == 0 else self.padding
        return conv(self.channels, 3, "conv", stride=2, padding=pad)(x)


class Upsample2D(nn.Module):
    """Nearest-neighbour ×2, then a 3×3 conv."""

    channels: int

    @nn.compact
    def __call__(self, x):
        b, h, w, c = x.shape
        x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
        return conv(self.channels, 3, "conv")(x)
