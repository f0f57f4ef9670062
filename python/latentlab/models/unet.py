"""The latent denoiser: a U-Net in the style of Ho et al. 2020 and Rombach et al. 2022.

Inputs are noisy latents [B, h, w, C] float32, integer timesteps [B] and class labels [B]
(``num_classes`` is the null label used for classifier-free guidance; Ho & Salimans 2022).
The output has the input's shape and means whatever ``prediction`` says: ``eps`` (the noise),
``x0`` (the clean latents) or ``v`` (Salimans & Ho 2022).
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from latentlab.diffusion.parameterization import PREDICTIONS
from latentlab.models.fields import (hyperparameter, non_negative, one_of, positive,
                                     positive_list, positive_or_empty_list)
from latentlab.models.layers import ResBlock, SelfAttention, downsample, upsample, num_groups


def timestep_embedding(timesteps: jax.Array, dim: int, max_period: float = 10_000.0):
    """Sinusoidal embedding of timesteps [B] → [B, dim] (Vaswani et al. 2017)."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    angles = timesteps.astype(jnp.float32)[:, None] * freqs[None, :]
    return jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=-1)


class UNet(nn.Module):
    """ε/x0/v-prediction U-Net with time embedding, optional class conditioning and attention."""

    channels: int = hyperparameter(32, positive)
    channel_mult: tuple[int, ...] = hyperparameter((1, 2), positive_list)
    num_res_blocks: int = hyperparameter(1, positive)
    attention_resolutions: tuple[int, ...] = hyperparameter((4,), positive_or_empty_list)
    num_heads: int = hyperparameter(4, positive)
    num_classes: int = hyperparameter(10, non_negative)  # 0: unconditional
    prediction: str = hyperparameter("eps", one_of(*PREDICTIONS))

    @classmethod
    def check_section(cls, values: dict):
        """Attention splits each level's channels (and the middle block's) among the heads."""
        for mult in values["channel_mult"]:
            width = values["channels"] * mult
            if width % values["num_heads"]:
                yield "num_heads", (f"must divide the channels of every level (channels × "
                                    f"channel_mult = {width}), got {values['num_heads']}")
                return

    @property
    def null_label(self) -> int:
        return self.num_classes

    @nn.compact
    def __call__(self, x, timesteps, labels=None):
        # x: [B, h, w, C] float32; timesteps: [B] int32; labels: [B] int32 in [0, num_classes]
        embed_dim = 4 * self.channels
        emb = timestep_embedding(timesteps, self.channels)
        emb = nn.Dense(embed_dim)(emb)
        emb = nn.Dense(embed_dim)(nn.swish(emb))
        if self.num_classes > 0:
            if labels is None:
                labels = jnp.full(timesteps.shape, self.null_label, jnp.int32)
            emb = emb + nn.Embed(self.num_classes + 1, embed_dim)(labels)

        h = nn.Conv(self.channels, (3, 3))(x)
        skips = [h]
        for level, mult in enumerate(self.channel_mult):
            for _ in range(self.num_res_blocks):
                h = ResBlock(self.channels * mult)(h, emb)
                if h.shape[1] in self.attention_resolutions:
                    h = SelfAttention(self.num_heads)(h)
                skips.append(h)
            if level != len(self.channel_mult) - 1:
                h = downsample(h, h.shape[-1])
                skips.append(h)

        h = ResBlock(h.shape[-1])(h, emb)
        h = SelfAttention(self.num_heads)(h)
        h = ResBlock(h.shape[-1])(h, emb)

        for level, mult in reversed(list(enumerate(self.channel_mult))):
            for _ in range(self.num_res_blocks + 1):
                h = jnp.concatenate([h, skips.pop()], axis=-1)
                h = ResBlock(self.channels * mult)(h, emb)
                if h.shape[1] in self.attention_resolutions:
                    h = SelfAttention(self.num_heads)(h)
            if level != 0:
                h = upsample(h, h.shape[-1])

        h = nn.swish(nn.GroupNorm(num_groups(h.shape[-1]))(h))
        return nn.Conv(x.shape[-1], (3, 3), kernel_init=nn.initializers.zeros)(h)
