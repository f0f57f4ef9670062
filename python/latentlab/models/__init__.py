"""Flax modules. Their dataclass fields are the one schema of each model section of a config."""

from latentlab.models.vae import VAE
from latentlab.models.unet import UNet
from latentlab.models.fields import hyperparameters, from_section

__all__ = ["VAE", "UNet", "hyperparameters", "from_section"]
