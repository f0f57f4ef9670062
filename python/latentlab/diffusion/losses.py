"""Training losses of the denoiser."""

import jax
import jax.numpy as jnp

from latentlab.diffusion.parameterization import target
from latentlab.diffusion.schedules import NoiseSchedule, add_noise


def denoising_loss(apply_fn, params, x0, labels, key, schedule: NoiseSchedule,
                   prediction: str, label_dropout: float, null_label: int):
    """The simple DDPM objective (Ho et al. 2020, eq. 14), uniform over t, for any
    parameterisation; labels are replaced by the null label with probability ``label_dropout``
    so one network learns both the conditional and the unconditional denoiser.

    x0: [B, h, w, C] float32 latents; labels: [B] int32. Returns the scalar mean loss.
    """
    t_key, noise_key, drop_key = jax.random.split(key, 3)
    batch = x0.shape[0]
    t = jax.random.randint(t_key, (batch,), 0, schedule.num_timesteps)
    eps = jax.random.normal(noise_key, x0.shape, x0.dtype)
    x_t = add_noise(schedule, x0, eps, t)
    dropped = jax.random.bernoulli(drop_key, label_dropout, (batch,))
    labels = jnp.where(dropped, null_label, labels)
    output = apply_fn({"params": params}, x_t, t, labels)
    alpha_bar = schedule.alphas_cumprod[t].reshape((-1,) + (1,) * (x0.ndim - 1))
    return jnp.mean(jnp.square(output - target(prediction, x0, eps, alpha_bar)))
