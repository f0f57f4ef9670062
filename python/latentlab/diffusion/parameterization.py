"""Conversions between what a denoiser predicts (ε, x0 or v) and (x0, ε).

With a = ᾱ_t: x_t = √a x0 + √(1-a) ε and v = √a ε - √(1-a) x0 (Salimans & Ho 2022).
"""

import jax.numpy as jnp

PREDICTIONS = ("eps", "x0", "v")  # what a denoiser may be trained to output


def to_x0_eps(prediction: str, output, x_t, alpha_bar):
    """Returns (x0, ε) implied by the model output; ``alpha_bar`` broadcasts against x_t."""
    sqrt_a, sqrt_1ma = jnp.sqrt(alpha_bar), jnp.sqrt(1.0 - alpha_bar)
    if prediction == "eps":
        eps = output
        return (x_t - sqrt_1ma * eps) / sqrt_a, eps
    if prediction == "x0":
        x0 = output
        return x0, (x_t - sqrt_a * x0) / sqrt_1ma
    if prediction == "v":
        x0 = sqrt_a * x_t - sqrt_1ma * output
        eps = sqrt_1ma * x_t + sqrt_a * output
        return x0, eps
    raise ValueError(f"unknown prediction {prediction!r}")


def target(prediction: str, x0, eps, alpha_bar):
    """The regression target of a denoiser that predicts ``prediction``."""
    if prediction == "eps":
        return eps
    if prediction == "x0":
        return x0
    if prediction == "v":
        return jnp.sqrt(alpha_bar) * eps - jnp.sqrt(1.0 - alpha_bar) * x0
    raise ValueError(f"unknown prediction {prediction!r}")
