"""LatentLab: latent diffusion models in JAX/Flax, orchestrated from Java.

Java calls only :mod:`latentlab.bridge`; everything else is an ordinary library.
"""

__version__ = "0.1.0"
