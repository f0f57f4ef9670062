"""Building blocks shared by the VAE and the U-Net."""

import flax.linen as nn
import jax
import jax.numpy as jnp


def num_groups(channels: int) -> int:
    """GroupNorm groups: 8 where the channels allow it, else the largest divisor below 8."""
    for groups in (8, 4, 2, 1):
        if channels % groups == 0:
            return groups
    return 1


class ResBlock(nn.Module):
    """GroupNorm → swish → conv, twice, with an optional time/class embedding added in between."""

    channels: int

    @nn.compact
    def __call__(self, x, embedding=None):  # x: [B, H, W, C] float32; embedding: [B, E]
        h = nn.swish(nn.GroupNorm(num_groups(x.shape[-1]))(x))
        h = nn.Conv(self.channels, (3, 3))(h)
        if embedding is not None:
            h = h + nn.Dense(self.channels)(nn.swish(embedding))[:, None, None, :]
        h = nn.swish(nn.GroupNorm(num_groups(self.channels))(h))
        h = nn.Conv(self.channels, (3, 3), kernel_init=nn.initializers.zeros)(h)
        if x.shape[-1] != self.channels:
            x = nn.Conv(self.channels, (1, 1))(x)
        return x + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the spatial positions of a feature map, residual."""

    num_heads: int = 4

    @nn.compact
    def __call__(self, x):  # x: [B, H, W, C]
        batch, height, width, channels = x.shape
        h = nn.GroupNorm(num_groups(channels))(x).reshape(batch, height * width, channels)
        h = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads, out_kernel_init=nn.initializers.zeros)(h)
        return x + h.reshape(batch, height, width, channels)


def downsample(x, channels: int):
    """Halves H and W with a stride-2 convolution."""
    return nn.Conv(channels, (3, 3), strides=(2, 2))(x)


def upsample(x, channels: int):
    """Doubles H and W: nearest-neighbour resize, then a convolution."""
    batch, height, width, c = x.shape
    x = jax.image.resize(x, (batch, height * 2, width * 2, c), method="nearest")
    return nn.Conv(channels, (3, 3))(x)
