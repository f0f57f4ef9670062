"""Sampling a trained latent diffusion model, fused or step by step, and the rules of a
sampling request (:func:`resolve_sampling`: ranges, names, which η a derived request gets).

Both modes run the same step function (:mod:`latentlab.diffusion.samplers`) with the same keys:
``fold_in(PRNGKey(seed), KEY_SAMPLE)`` split into the initial-noise key and the sampler's key,
so a :class:`SamplingSession` left untouched ends with exactly the fused result.
"""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from latentlab import execution as execution_lib
from latentlab.checkpoint import LatentDiffusionModel
from latentlab.diffusion import samplers, schedules
from latentlab.models import UNet

KEY_SAMPLE = 3  # the purpose index of sampling under the config's seed

# The ranges of a sampling request's numbers: the one copy, which :func:`resolve_sampling`,
# config resolution and the evaluation request check, and constants() reports so that Java's
# copy (its config layer checks a config before Python starts) is compared by a test.
ETA_RANGE = (0.0, 1.0)  # 0: deterministic; 1: the full SDE (DDPM's posterior noise)
GUIDANCE_RANGE = (0.0, 100.0)  # classifier-free guidance w: 0 unconditional, 1 conditional only
# What a sampling request may set, as a config's ``sample`` section spells it.
SAMPLING_OPTIONS = ("sampler", "steps", "eta", "guidance_scale", "spacing", "rho")


def check_eta(eta, key: str = "sample.eta") -> None:
    """Refuses an η outside :data:`ETA_RANGE` (None, the sampler's own, passes).

    Raises:
      ValueError: ``key: must be in [0.0, 1.0] or null (the sampler's own), got …``.
    """
    low, high = ETA_RANGE
    if eta is not None and not (_is_number(eta) and low <= eta <= high):
        raise ValueError(f"{key}: must be in [{low}, {high}] or null (the sampler's own), "
                         f"got {eta!r}")


def check_guidance(guidance, key: str = "sample.guidance_scale") -> None:
    """Refuses a guidance scale outside :data:`GUIDANCE_RANGE`.

    Raises:
      ValueError: ``key: must be a finite number in [0.0, 100.0], got …``.
    """
    low, high = GUIDANCE_RANGE
    if not (_is_number(guidance) and low <= guidance <= high):  # NaN fails the comparison
        raise ValueError(f"{key}: must be a finite number in [{low}, {high}], got {guidance!r}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def resolve_sampling(recorded: dict, overrides: dict) -> dict:
    """THE rule for a sampling request derived from a run: the run's recorded ``sample``
    section (as its config.yaml holds it: ``eta`` is the η the run used) with a request's
    ``overrides`` (any of :data:`SAMPLING_OPTIONS`; absent or None leaves it to the run).

    - an override wins;
    - else, with the sampler unchanged, the recorded value is kept;
    - η not overridden for a different sampler that has an η becomes that sampler's own
      (:func:`latentlab.diffusion.samplers.default_eta`: DDPM, Euler ancestral and the SDE
      samplers sample with their noise, as their names say, not at the old sampler's η); a
      sampler whose output η does not change keeps the recorded value, so requests (and the
      ids of the sweep trials named by them) do not change where the samples do not;
    - spacing and ρ the run left out are Python's defaults. Other recorded keys (e.g.
      ``num_samples``) are kept as they are; a run recorded before ``spacing`` had its name
      wrote ``timestep_spacing``, read as ``spacing``.

    Returns a new dict: the full resolved section, every option of the list set.

    Raises:
      ValueError: one line, ``sample.<key>: what is wrong; what is allowed``.
    """
    unknown = sorted(set(overrides) - set(SAMPLING_OPTIONS))
    if unknown:
        raise ValueError(f"sample.{unknown[0]}: not a sampling option; allowed: "
                         f"{', '.join(SAMPLING_OPTIONS)}")
    resolved = dict(recorded)
    if resolved.get("spacing") is None and "timestep_spacing" in resolved:
        resolved["spacing"] = resolved.pop("timestep_spacing")
    given = {key: value for key, value in overrides.items() if value is not None}
    sampler = given.get("sampler", resolved.get("sampler"))
    if sampler not in samplers.SAMPLERS:
        raise ValueError(f"sample.sampler: unknown value {sampler!r}; allowed: "
                         f"{', '.join(samplers.SAMPLERS)}")
    if (sampler != resolved.get("sampler") and "eta" not in given
            and samplers.record(sampler).eta is not None):
        resolved["eta"] = None  # the recorded η was the old sampler's
    resolved.update(given)
    resolved["eta"] = samplers.eta_or_default(sampler, resolved.get("eta"))
    if resolved.get("spacing") is None:
        resolved["spacing"] = schedules.DEFAULT_SPACING
    if resolved.get("rho") is None:
        resolved["rho"] = schedules.DEFAULT_RHO
    check_sampling(resolved)
    return resolved


def check_sampling(section: dict) -> None:
    """Checks the options of a resolved sampling section (each of :data:`SAMPLING_OPTIONS`
    present).

    Raises:
      ValueError: one line, ``sample.<key>: …``, for the first problem found.
    """
    for key in SAMPLING_OPTIONS:
        if key != "eta" and section.get(key) is None:
            raise ValueError(f"sample.{key}: missing from both the run's config and the "
                             "request; set it")
    if section["sampler"] not in samplers.SAMPLERS:
        raise ValueError(f"sample.sampler: unknown value {section['sampler']!r}; allowed: "
                         f"{', '.join(samplers.SAMPLERS)}")
    steps = section["steps"]
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"sample.steps: must be an integer >= 1, got {steps!r}")
    check_eta(section["eta"])
    check_guidance(section["guidance_scale"])
    if section["spacing"] not in schedules.SPACINGS:
        raise ValueError(f"sample.spacing: unknown value {section['spacing']!r}; allowed: "
                         f"{', '.join(schedules.SPACINGS)}")
    rho = section["rho"]
    if not (_is_number(rho) and math.isfinite(rho) and rho > 0):
        raise ValueError(f"sample.rho: must be a positive number, got {rho!r}")


def root_key(seed: int, replicate: int = 0):
    """The root of a run's randomness: the seed's key, folded with the replicate index for
    replicates after the first (replicate 0 is the seed's own key)."""
    key = jax.random.PRNGKey(seed)
    return key if replicate == 0 else jax.random.fold_in(key, REPLICATE_BASE + replicate)


REPLICATE_BASE = 1 << 20  # keeps replicate keys apart from the purpose indices below it


def sampling_keys(seed: int, replicate: int = 0):
    """(noise key, sampler key) of a seed and replicate."""
    return jax.random.split(jax.random.fold_in(root_key(seed, replicate), KEY_SAMPLE))


def _denoiser(unet: UNet, params, schedule, labels, guidance_scale):
    return samplers.model_denoiser(
        lambda x, t, y: unet.apply({"params": params}, x, t, y), unet.prediction, schedule,
        labels, unet.null_label, guidance_scale)


# Static: the Flax modules (frozen dataclasses, hashed and compared by their fields, so two
# checkpoints of one architecture share a compilation and jit's cache keeps no weights alive),
# the sampler's name and the shapes. Traced: parameters, the schedule's arrays, σ grid, η,
# guidance, labels, keys and the latent scale. A sweep compiles once per (architecture,
# sampler, steps, batch).
@partial(jax.jit, static_argnames=("unet", "sampler"))
def _fused(unet, params, schedule, x_T, labels, guidance_scale, key, sigmas, eta, *, sampler):
    denoise = _denoiser(unet, params, schedule, labels, guidance_scale)
    return samplers.get_sampler(sampler)(denoise, x_T, sigmas, key, eta=eta)


@partial(jax.jit, static_argnames=("unet", "sampler"))
def _step(unet, params, schedule, state, labels, guidance_scale, key, sigmas, eta, *, sampler):
    denoise = _denoiser(unet, params, schedule, labels, guidance_scale)
    return samplers.get_step(sampler)(denoise, state, sigmas, key, eta=eta)


@partial(jax.jit, static_argnames=("vae",))
def _decode(vae, params, latent_scale, latents):
    return jax.nn.sigmoid(vae.apply({"params": params}, latents / latent_scale,
                                    method=vae.decode))


def compile_count() -> int:
    """How many times the fused sampler has been compiled in this process."""
    return _fused._cache_size()


def _start(model: LatentDiffusionModel, sampler: str, steps: int, seed: int, labels,
           eta, spacing: str, rho: float, replicate: int):
    """(x_T, sampler key, σ grid, η, labels) of a sampling call."""
    eta = float(samplers.eta_or_default(sampler, eta))
    labels = jnp.asarray(labels, jnp.int32)
    sigmas = jnp.asarray(schedules.sigmas(model.schedule, steps, spacing, rho))
    noise_key, key = sampling_keys(seed, replicate)
    x_T = samplers.initial_noise(noise_key, (labels.shape[0],) + model.latent_shape, sigmas)
    return x_T, key, sigmas, jnp.float32(eta), labels


def sample(model: LatentDiffusionModel, *, sampler: str, steps: int, seed: int, labels,
           guidance_scale: float, eta: float | None = None,
           spacing: str = schedules.DEFAULT_SPACING, rho: float = schedules.DEFAULT_RHO,
           replicate: int = 0, execution=None) -> jax.Array:
    """Fused sampling: the whole loop in one jitted call. Returns the final latents in the
    U-Net's (scaled) latent space, [B, h, w, c]; labels [B] int. ``eta`` None is the
    sampler's own default (see :func:`latentlab.diffusion.samplers.eta_or_default`).

    With an ``execution`` (:class:`latentlab.execution.Execution`) the batch is split over its
    mesh (the model's weights must be replicated there) and so are the latents returned;
    each sample's computation is its own, so the split changes no value. The initial noise is
    drawn whole first, so it is the same whatever the mesh."""
    x_T, key, sigmas, eta, labels = _start(model, sampler, steps, seed, labels, eta, spacing,
                                           rho, replicate)
    if execution is not None:
        batch = execution.batch_sharding_for(int(labels.shape[0]))
        x_T, labels = execution_lib.put(execution, (x_T, labels), batch)
        key, sigmas, eta = execution_lib.put(execution, (key, sigmas, eta))
    return _fused(model.unet, model.unet_params, model.schedule, x_T, labels,
                  jnp.float32(guidance_scale), key, sigmas, eta, sampler=sampler)


def sample_from(model: LatentDiffusionModel, x_start, sigmas, *, labels, key, sampler: str,
                guidance_scale: float = 0.0, eta: float | None = None) -> jax.Array:
    """Fused sampling from latents ``x_start`` [B, h, w, c] that are at noise level
    ``sigmas[0]``, down the decreasing grid ``sigmas`` (ending at 0): what SDEdit-style
    restoration runs (:mod:`latentlab.apps.sdedit`). Compiles once per (sampler, grid length,
    batch)."""
    eta = float(samplers.eta_or_default(sampler, eta))
    return _fused(model.unet, model.unet_params, model.schedule, jnp.asarray(x_start),
                  jnp.asarray(labels, jnp.int32), jnp.float32(guidance_scale), key,
                  jnp.asarray(sigmas, jnp.float32), jnp.float32(eta), sampler=sampler)


def decode(model: LatentDiffusionModel, latents) -> jax.Array:
    """Scaled latents [B, h, w, c] → images [B, H, W, C] in [0, 1]."""
    return _decode(model.vae, model.vae_params, jnp.float32(model.latent_scale), latents)


class SamplingSession:
    """Sampling one step at a time; the caller may read and replace the latents in between.

    Left untouched, the final latents equal :func:`sample` with the same arguments bit for bit
    on CPU. Not thread-safe (Java drives it from the bridge's one thread).
    """

    def __init__(self, model: LatentDiffusionModel, *, sampler: str, steps: int, seed: int,
                 labels, guidance_scale: float, eta: float | None = None,
                 spacing: str = schedules.DEFAULT_SPACING, rho: float = schedules.DEFAULT_RHO,
                 replicate: int = 0):
        samplers.get_step(sampler)  # fail early on an unknown name
        self.model = model
        self.sampler = sampler
        x_T, self.key, self.sigmas, self.eta, self.labels = _start(
            model, sampler, steps, seed, labels, eta, spacing, rho, replicate)
        self.guidance_scale = jnp.float32(guidance_scale)
        self.state = samplers.init_state(x_T)
        self._before_step = None  # the state the last step started from, for rewind()

    @property
    def steps_done(self) -> int:
        return int(self.state.index)

    @property
    def total_steps(self) -> int:
        return int(self.sigmas.shape[0]) - 1

    @property
    def done(self) -> bool:
        return self.steps_done >= self.total_steps

    def step(self) -> samplers.SamplerState:
        """Takes one step. Raises RuntimeError once all steps are done."""
        if self.done:
            raise RuntimeError(f"all {self.total_steps} steps are done; close the session")
        self._before_step = self.state
        self.state = _step(self.model.unet, self.model.unet_params, self.model.schedule,
                           self.state, self.labels, self.guidance_scale, self.key, self.sigmas,
                           self.eta, sampler=self.sampler)
        return self.state

    @property
    def sigma(self) -> float:
        """The noise level σ of the current latents (0 once done)."""
        return float(self.sigmas[self.steps_done])

    def set_latents(self, x) -> None:
        """Replaces the current latents x = x0 + σ ε (an intervention); shape and dtype must
        match. Multistep samplers keep their history of earlier predictions."""
        x = self._as_array(x)
        self._check_latents(x)
        self.state = self.state.replace(x=x)

    def rewind(self, x) -> None:
        """Goes back to before the last step, with latents ``x`` at that step's starting σ,
        so the next step takes it again from there: RePaint's resampling (re-noise the result
        to the earlier σ, step again). Everything else is the state the step started from, so
        multistep samplers keep their history as it was. Once per step; rewinding to the same
        latents and stepping again gives the same result bit for bit."""
        if self._before_step is None:
            raise RuntimeError("no step to go back over: rewind() follows a step(), once")
        self._check_latents(x)
        self.state = self._before_step.replace(x=self._as_array(x))
        self._before_step = None

    @staticmethod
    def _as_array(x):
        return jnp.asarray(x) if not isinstance(x, jax.Array) else x

    def _check_latents(self, x) -> None:
        if x.shape != self.state.x.shape or x.dtype != self.state.x.dtype:
            raise ValueError(f"latents must be {self.state.x.dtype}{list(self.state.x.shape)}, "
                             f"got {x.dtype}{list(x.shape)}")

    def decode(self, latents=None) -> jax.Array:
        """Latents decoded to images [B, H, W, C] in [0, 1]: the current ones, or ``latents``
        [B, h, w, c] in the same space (e.g. a step's x0 prediction)."""
        return decode(self.model, self.state.x if latents is None else latents)
