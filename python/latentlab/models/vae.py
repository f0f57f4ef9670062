"""A KL-regularised convolutional autoencoder (Kingma & Welling 2014; Rombach et al. 2022, §3).

Images are [B, H, W, C] float32 in [0, 1]; latents are [B, H/f, W/f, latent_channels] with
f = 2 ** (len(channel_mult) - 1). The decoder returns Bernoulli logits, so the reconstruction
loss is a per-pixel binary cross-entropy, which suits MNIST's near-binary strokes.
"""

import dataclasses
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from latentlab.models.fields import hyperparameter, positive, positive_list
from latentlab.models.sd.config import required
from latentlab.models.layers import ResBlock, downsample, upsample, num_groups


class Posterior(NamedTuple):
    """A diagonal Gaussian q(z | x)."""

    mean: jax.Array     # [B, h, w, latent_channels] float32
    log_var: jax.Array  # [B, h, w, latent_channels] float32

    def sample(self, key: jax.Array) -> jax.Array:
        return self.mean + jnp.exp(0.5 * self.log_var) * jax.random.normal(key, self.mean.shape)

    def kl(self) -> jax.Array:
        """KL(q || N(0, I)) summed over latent dimensions: [B]."""
        terms = jnp.square(self.mean) + jnp.exp(self.log_var) - 1.0 - self.log_var
        return 0.5 * jnp.sum(terms, axis=(1, 2, 3))


class VAE(nn.Module):
    """Encoder → diagonal Gaussian posterior → decoder."""

    image_channels: int = hyperparameter(1, positive)
    channels: int = hyperparameter(16, positive)
    channel_mult: tuple[int, ...] = hyperparameter((1, 2, 2), positive_list)
    num_res_blocks: int = hyperparameter(1, positive)
    latent_channels: int = hyperparameter(4, positive)

    @property
    def downsampling_factor(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)

    def setup(self):
        self.encoder = _Encoder(self.channels, self.channel_mult, self.num_res_blocks,
                                self.latent_channels)
        self.decoder = _Decoder(self.channels, self.channel_mult, self.num_res_blocks,
                                self.image_channels)

    def encode(self, images: jax.Array) -> Posterior:
        moments = self.encoder(images)
        mean, log_var = jnp.split(moments, 2, axis=-1)
        return Posterior(mean, jnp.clip(log_var, -30.0, 20.0))

    def decode(self, latents: jax.Array) -> jax.Array:
        """Latents [B, h, w, c] → image logits [B, H, W, image_channels]."""
        return self.decoder(latents)

    def __call__(self, images: jax.Array, key: jax.Array):
        posterior = self.encode(images)
        return self.decode(posterior.sample(key)), posterior

    # Stable Diffusion's pipeline speaks pixels in [-1, 1] (AutoencoderKL's range): a text model
    # trained on this VAE (latentlab.train.text) samples through it with these two.
    def encode_pixels(self, pixels: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Images in [-1, 1] → (posterior mean, log-variance)."""
        posterior = self.encode(pixels / 2.0 + 0.5)
        return posterior.mean, posterior.log_var

    def decode_pixels(self, latents: jax.Array) -> jax.Array:
        """Latents → images in [-1, 1]."""
        return 2.0 * jax.nn.sigmoid(self.decode(latents)) - 1.0


@dataclasses.dataclass(frozen=True)
class VAEComponentConfig:
    """A trained :class:`VAE` as a component of a text model's folder (class ``LatentLabVAE``
    in its ``sd_model.json``): the VAE's hyperparameters and the scale its latents were
    trained at (1 / std, measured per run; Stable Diffusion's 0.18215 is the same idea,
    fixed)."""

    image_channels: int = required()
    channels: int = required()
    channel_mult: tuple = required()
    num_res_blocks: int = required()
    latent_channels: int = required()
    scaling_factor: float = required()

    @property
    def downsampling_factor(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)

    def module(self) -> VAE:
        return VAE(image_channels=self.image_channels, channels=self.channels,
                   channel_mult=tuple(self.channel_mult), num_res_blocks=self.num_res_blocks,
                   latent_channels=self.latent_channels)


def reconstruct(vae: VAE, params, images, batch_size: int = 1000) -> jax.Array:
    """Images [N, H, W, C] in [0, 1] → the decoded posterior means, in [0, 1] (batches of
    ``batch_size``), by one jitted program per VAE and batch shape. (Run eagerly, each of its
    layers' ops compiled, or was read from the on-disk cache, on its own: about 40 programs and
    2-5 s in every new process, for the held-out PSNR of each run and every evaluation's
    floor. Jitted, its values move in the last float32 bits, about 1e-6.)"""
    apply = _reconstructor(vae)
    return jnp.concatenate([apply(params, jnp.asarray(images[start:start + batch_size]))
                            for start in range(0, len(images), batch_size)])


_RECONSTRUCTORS: dict = {}


def _reconstructor(vae: VAE):
    # The weights are an argument: a constant would make every run's program its own.
    if vae not in _RECONSTRUCTORS:
        def apply(params, images):
            mean = vae.apply({"params": params}, images, method=VAE.encode).mean
            return jax.nn.sigmoid(vae.apply({"params": params}, mean, method=VAE.decode))
        _RECONSTRUCTORS[vae] = jax.jit(apply)
    return _RECONSTRUCTORS[vae]


class _Encoder(nn.Module):
    channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    latent_channels: int

    @nn.compact
    def __call__(self, x):
        h = nn.Conv(self.channels, (3, 3))(x)
        for level, mult in enumerate(self.channel_mult):
            for _ in range(self.num_res_blocks):
                h = ResBlock(self.channels * mult)(h)
            if level != len(self.channel_mult) - 1:
                h = downsample(h, self.channels * mult)
        h = nn.swish(nn.GroupNorm(num_groups(h.shape[-1]))(h))
        return nn.Conv(2 * self.latent_channels, (3, 3))(h)


class _Decoder(nn.Module):
    channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    image_channels: int

    @nn.compact
    def __call__(self, z):
        h = nn.Conv(self.channels * self.channel_mult[-1], (3, 3))(z)
        for level, mult in reversed(list(enumerate(self.channel_mult))):
            for _ in range(self.num_res_blocks):
                h = ResBlock(self.channels * mult)(h)
            if level != 0:
                h = upsample(h, self.channels * self.channel_mult[level - 1])
        h = nn.swish(nn.GroupNorm(num_groups(h.shape[-1]))(h))
        return nn.Conv(self.image_channels, (3, 3))(h)
