"""Image-quality metrics."""

import jax.numpy as jnp


def psnr(reference, estimate, max_value: float = 1.0):
    """Peak signal-to-noise ratio in dB, averaged over the batch; arrays [B, ...] in [0, max]."""
    axes = tuple(range(1, reference.ndim))
    mse = jnp.mean(jnp.square(reference - estimate), axis=axes)
    return jnp.mean(10.0 * jnp.log10(max_value ** 2 / jnp.maximum(mse, 1e-12)))
