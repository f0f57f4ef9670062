"""Stable Diffusion's autoencoder (Rombach et al. 2022), in the layout of diffusers'
``AutoencoderKL``: images [B, H, W, C] in [-1, 1] ↔ latents [B, H/f, W/f, latent_channels],
f = 2^(len(block_out_channels) - 1). The sampler's latents are ``scaling_factor`` × these."""

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from latentlab.models.sd.blocks import (Downsample2D, ResnetBlock2D, SpatialAttention,
                                        Upsample2D, conv, group_norm)
from latentlab.models.sd.config import required


@dataclasses.dataclass(frozen=True)
class AutoencoderKLConfig:
    block_out_channels: tuple = required()
    in_channels: int = 3
    out_channels: int = 3
    latent_channels: int = 4
    layers_per_block: int = 1
    norm_num_groups: int = 32
    act_fn: str = "silu"
    scaling_factor: float = 0.18215
    shift_factor: float = 0.0
    sample_size: int = 32
    use_quant_conv: bool = True
    use_post_quant_conv: bool = True
    mid_block_add_attention: bool = True
    down_block_types: tuple = ()
    up_block_types: tuple = ()

    @property
    def downsampling_factor(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)

    def check(self):
        if self.act_fn != "silu":
            yield "act_fn", f"only silu is supported, got {self.act_fn!r}"
        for c in self.block_out_channels:
            if c % self.norm_num_groups:
                yield "norm_num_groups", f"must divide every block_out_channels, got {c}"
                return
        for t in self.down_block_types:
            if t != "DownEncoderBlock2D":
                yield "down_block_types", f"only DownEncoderBlock2D is supported, got {t!r}"
                return
        for t in self.up_block_types:
            if t != "UpDecoderBlock2D":
                yield "up_block_types", f"only UpDecoderBlock2D is supported, got {t!r}"
                return


class _MidBlock(nn.Module):
    config: AutoencoderKLConfig

    @nn.compact
    def __call__(self, x):
        c = self.config
        x = ResnetBlock2D(x.shape[-1], c.norm_num_groups, 1e-6, name="resnets_0")(x)
        if c.mid_block_add_attention:
            x = SpatialAttention(c.norm_num_groups, 1e-6, name="attentions_0")(x)
        return ResnetBlock2D(x.shape[-1], c.norm_num_groups, 1e-6, name="resnets_1")(x)


class _DownBlock(nn.Module):
    config: AutoencoderKLConfig
    channels: int
    downsample: bool

    @nn.compact
    def __call__(self, x):
        c = self.config
        for j in range(c.layers_per_block):
            x = ResnetBlock2D(self.channels, c.norm_num_groups, 1e-6, name=f"resnets_{j}")(x)
        if self.downsample:
            x = Downsample2D(self.channels, padding=0, name="downsamplers_0")(x)
        return x


class _UpBlock(nn.Module):
    config: AutoencoderKLConfig
    channels: int
    upsample: bool

    @nn.compact
    def __call__(self, x):
        c = self.config
        for j in range(c.layers_per_block + 1):
            x = ResnetBlock2D(self.channels, c.norm_num_groups, 1e-6, name=f"resnets_{j}")(x)
        if self.upsample:
            x = Upsample2D(self.channels, name="upsamplers_0")(x)
        return x


class Encoder(nn.Module):
    config: AutoencoderKLConfig

    @nn.compact
    def __call__(self, x):
        c = self.config
        channels = c.block_out_channels
        h = conv(channels[0], 3, "conv_in")(x)
        for i, width in enumerate(channels):
            h = _DownBlock(c, width, i != len(channels) - 1, name=f"down_blocks_{i}")(h)
        h = _MidBlock(c, name="mid_block")(h)
        h = nn.silu(group_norm(c.norm_num_groups, 1e-6, "conv_norm_out")(h))
        return conv(2 * c.latent_channels, 3, "conv_out")(h)


class Decoder(nn.Module):
    config: AutoencoderKLConfig

    @nn.compact
    def __call__(self, z):
        c = self.config
        channels = tuple(reversed(c.block_out_channels))
        h = conv(channels[0], 3, "conv_in")(z)
        h = _MidBlock(c, name="mid_block")(h)
        for i, width in enumerate(channels):
            h = _UpBlock(c, width, i != len(channels) - 1, name=f"up_blocks_{i}")(h)
        h = nn.silu(group_norm(c.norm_num_groups, 1e-6, "conv_norm_out")(h))
        return conv(c.out_channels, 3, "conv_out")(h)


class AutoencoderKL(nn.Module):
    """``encode(images) -> (mean, log_var)`` of the posterior; ``decode(latents) -> images``."""

    config: AutoencoderKLConfig

    def setup(self):
        c = self.config
        self.encoder = Encoder(c)
        self.decoder = Decoder(c)
        if c.use_quant_conv:
            self.quant_conv = nn.Conv(2 * c.latent_channels, (1, 1))
        if c.use_post_quant_conv:
            self.post_quant_conv = nn.Conv(c.latent_channels, (1, 1))

    def encode(self, images):
        moments = self.encoder(images)
        if self.config.use_quant_conv:
            moments = self.quant_conv(moments)
        mean, log_var = jnp.split(moments, 2, axis=-1)
        return mean, jnp.clip(log_var, -30.0, 20.0)

    def decode(self, latents):
        if self.config.use_post_quant_conv:
            latents = self.post_quant_conv(latents)
        return self.decoder(latents)

    def __call__(self, images):
        mean, _ = self.encode(images)
        return self.decode(mean)

    # What the pipeline calls on any VAE component (LatentLab's own VAE has them too).
    def encode_pixels(self, pixels):
        """Images in [-1, 1] → (posterior mean, log-variance)."""
        return self.encode(pixels)

    def decode_pixels(self, latents):
        """Latents → images in about [-1, 1]."""
        return self.decode(latents)
