"""Text to image with an imported Stable Diffusion model: tokenize → encode → sample with
classifier-free guidance on LatentLab's samplers → decode.

The samplers work in σ coordinates (:mod:`latentlab.diffusion.samplers`); diffusers' latents
are x_t = √ᾱ x. :func:`scheduler_sigmas` is diffusers' DDIM timestep grid as a σ grid: its
``timestep_spacing`` and ``steps_offset``, and its last step to ᾱ = 1 (σ = 0) or, where the
scheduler says ``set_alpha_to_one: false`` (Stable Diffusion's configs), to ᾱ_0.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from latentlab.diffusion import samplers, schedules
from latentlab.models.sd.importer import load_imported
from latentlab.models.sd.tokenizer import CLIPTokenizer


def schedule_of(diffusion: dict) -> schedules.NoiseSchedule:
    return schedules.make_schedule(diffusion["beta_schedule"], diffusion["num_timesteps"],
                                   diffusion["beta_start"], diffusion["beta_end"])


def scheduler_sigmas(schedule: schedules.NoiseSchedule, diffusion: dict, steps: int) -> np.ndarray:
    """The σ grid [steps+1] of diffusers' DDIM for an imported scheduler config."""
    t = schedules.sampling_timesteps(schedule.num_timesteps, steps, diffusion["timestep_spacing"],
                                     diffusion.get("steps_offset", 0))
    table = np.exp(np.asarray(schedules.log_sigmas(schedule), np.float64))
    final = 0.0 if diffusion.get("set_alpha_to_one", True) else table[0]
    return np.append(table[t], final).astype(np.float32)


def model_sigmas(schedule: schedules.NoiseSchedule, diffusion: dict, steps: int,
                 spacing: str | None = None, rho: float = schedules.DEFAULT_RHO) -> np.ndarray:
    """The σ grid [steps+1] of an imported model for any of LatentLab's spacings: a timestep
    spacing (None: the scheduler's own) keeps the scheduler's ``steps_offset`` and last step
    (:func:`scheduler_sigmas`); a σ spacing (``karras``, ...) spans the schedule's σ range
    down to 0 (:func:`latentlab.diffusion.schedules.sigmas`)."""
    spacing = spacing or diffusion["timestep_spacing"]
    if spacing in schedules.TIMESTEP_SPACINGS:
        return scheduler_sigmas(schedule, {**diffusion, "timestep_spacing": spacing}, steps)
    return schedules.sigmas(schedule, steps, spacing, rho)


class TextToImage:
    """An imported model ready to sample: ``model(prompts, ...)``, or :meth:`encode_text` then
    :meth:`sample` to encode each prompt once for several images.

    A prompt's *context* is what the U-Net is conditioned on: the text states [B, L, D] of SD
    1.x and 2.x, or, for SDXL (a U-Net with the ``text_time`` embedding), a dict of ``states``
    [B, L, D1 + D2] (both encoders' penultimate hidden states side by side), ``text_embeds``
    [B, P] (the second encoder's pooled projection) and, added by :meth:`sample` from the
    image size, ``time_ids`` [B, 6] (original size, crop corner and target size, as diffusers'
    SDXL pipeline sets them with no crop)."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        loaded = load_imported(folder)
        self.meta = loaded["meta"]
        self.unet, self.unet_params = loaded["unet"]
        self.vae, self.vae_params = loaded["vae"]
        # AutoencoderKL, or LatentLab's own VAE in a model text-conditioned training wrote
        self.vae_config = loaded["configs"]["vae"]
        self.text_encoder, self.text_params = loaded["text_encoder"]
        self.tokenizer = CLIPTokenizer(folder / self.meta["tokenizer"],
                                       self.text_encoder.config.max_position_embeddings)
        self.xl = self.unet.config.addition_embed_type == "text_time"
        if self.xl:
            self.text_encoder_2, self.text_params_2 = loaded["text_encoder_2"]
            self.tokenizer_2 = CLIPTokenizer(folder / self.meta["tokenizer_2"],
                                             self.text_encoder_2.config.max_position_embeddings)
        # SDXL's pipelines condition an absent negative prompt on zeros
        self.zeros_for_empty = bool(self.meta.get("force_zeros_for_empty_prompt", False))
        self.diffusion = self.meta["diffusion"]
        self.schedule = schedule_of(self.diffusion)
        self.scaling_factor = self.vae_config.scaling_factor
        self._encode = None
        self._decode = None
        self._encode_image = None
        self._programs: dict = {}  # one compiled sampling program per sampler

    def tokenize(self, prompts) -> tuple:
        """(ids, tokens cut from each prompt): ids [B, L] int32, for SDXL a pair (one per
        tokenizer); what a tokenizer cuts is not warned of here (see :meth:`encode_text`)."""
        ids, cuts = self.tokenizer.encode(prompts)
        if self.xl:
            ids_2, cuts_2 = self.tokenizer_2.encode(prompts)
            return (ids, ids_2), [max(a, b) for a, b in zip(cuts, cuts_2)]
        return ids, cuts

    def encode_text(self, prompts):
        """The context of ``prompts`` (see the class); a prompt the tokenizer cuts is warned
        of."""
        if not self.xl:
            return self.encode_ids(self.tokenizer(prompts))
        return self.encode_ids((self.tokenizer(prompts), self.tokenizer_2(prompts)))

    def encode_ids(self, ids):
        """The context of token ids (:meth:`tokenize`'s): [B, L, D], or SDXL's dict without
        ``time_ids``."""
        if self._encode is None:
            if not self.xl:
                self._encode = jax.jit(lambda p, i: self.text_encoder.apply({"params": p}, i)[0])
            else:
                def encode(params, ids):
                    states, _ = self.text_encoder.apply({"params": params[0]}, ids[0],
                                                        hidden_layer=-2)
                    states_2, pooled = self.text_encoder_2.apply({"params": params[1]}, ids[1],
                                                                 hidden_layer=-2)
                    return {"states": jnp.concatenate([states, states_2], axis=-1),
                            "text_embeds": pooled}
                self._encode = jax.jit(encode)
        if not self.xl:
            return self._encode(self.text_params, jnp.asarray(ids))
        return self._encode((self.text_params, self.text_params_2),
                            tuple(jnp.asarray(i) for i in ids))

    def encode_negative(self, prompts):
        """The context of negative prompts: as :meth:`encode_text`, then :meth:`zeros_for`."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        return self.zeros_for(prompts, self.encode_text(prompts))

    def zeros_for(self, prompts, context):
        """``context`` (of negative ``prompts``) with each empty prompt's rows all zeros where
        the model says ``force_zeros_for_empty_prompt`` (SDXL), as diffusers' pipeline
        conditions on when no negative prompt is given; unchanged otherwise."""
        if not self.zeros_for_empty:
            return context
        empty = jnp.asarray([p == "" for p in prompts])
        return jax.tree.map(
            lambda c: jnp.where(empty.reshape((-1,) + (1,) * (c.ndim - 1)), 0.0, c), context)

    def encode_image(self, pixels) -> jax.Array:
        """Images [B, H, W, 3] in [-1, 1] → the latents the U-Net sees [B, h, w, 4]: the VAE
        posterior's mean times the scaling factor (one program, compiled once per shape)."""
        if self._encode_image is None:
            self._encode_image = jax.jit(lambda p, x: self.vae.apply(
                {"params": p}, x, method="encode_pixels")[0] * self.scaling_factor)
        return self._encode_image(self.vae_params, jnp.asarray(pixels, jnp.float32))

    def sigmas(self, steps: int, spacing: str | None = None,
               rho: float = schedules.DEFAULT_RHO) -> np.ndarray:
        """This model's σ grid [steps+1] (see :func:`model_sigmas`)."""
        return model_sigmas(self.schedule, self.diffusion, steps, spacing, rho)

    def __call__(self, prompts, negative_prompts, latents, steps: int = 50,
                 guidance_scale: float = 7.5, sampler: str = "ddim", key=None, eta=None,
                 spacing: str | None = None, rho: float = schedules.DEFAULT_RHO):
        """(final latents x_t [B, h, w, 4], images [B, H, W, 3] in about [-1, 1]) from
        ``latents`` [B, h, w, 4], the initial x_T as diffusers takes it (unit variance)."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        negative = [negative_prompts] * len(prompts) if isinstance(negative_prompts, str) \
            else list(negative_prompts)
        return self.sample(self.encode_text(prompts), self.encode_negative(negative), latents,
                           self.sigmas(steps, spacing, rho), guidance_scale, sampler, key, eta)

    def sample(self, context, null_context, latents, sigmas, guidance_scale: float = 7.5,
               sampler: str = "ddim", key=None, eta=None, known=None):
        """(final latents, images) as :meth:`__call__` gives them, from text states ``context``
        and ``null_context`` [B, L, D] (the prompts' and the negative prompts'), initial
        ``latents`` [B, h, w, 4] and a σ grid [S+1] (:meth:`sigmas`). ``key`` drives the noise
        of stochastic samplers; ``eta`` None is the sampler's own η. Guidance, η, the key and
        the grid's values are traced: changing them never recompiles.

        ``known`` = (z0 [1 or B, h, w, 4], keep [1 or B, h, w, 1]) inpaints: wherever keep is 1
        every prediction of x0 is replaced by z0 (the picture's scaled latents), so with any
        sampler the kept region ends on z0 where the grid ends at σ = 0 and the rest is
        sampled around it."""
        key = jax.random.PRNGKey(0) if key is None else key
        eta = samplers.eta_or_default(sampler, eta)
        program = (sampler, known is not None)
        if program not in self._programs:
            self._programs[program] = jax.jit(self._sample_program(sampler, known is not None))
        if self._decode is None:
            # its own program, compiled once: not again inside each sampler's
            self._decode = jax.jit(lambda p, z: self.vae.apply(
                {"params": p}, z / self.scaling_factor, method="decode_pixels"))
        if self.xl:  # the size embedding: this size, uncropped, as its own original
            height, width = (n * self.vae_config.downsampling_factor for n in latents.shape[1:3])
            ids = jnp.asarray([height, width, 0, 0, height, width], jnp.float32)
            context, null_context = (
                {**c, "time_ids": jnp.broadcast_to(ids, (c["states"].shape[0], 6))}
                for c in (context, null_context))
        args = (self.unet_params, context, null_context, jnp.asarray(latents),
                jnp.asarray(sigmas), jnp.float32(guidance_scale), key, jnp.float32(eta))
        if known is not None:
            args += tuple(jnp.asarray(part, jnp.float32) for part in known)
        final = self._programs[program](*args)
        return final, self._decode(self.vae_params, final)

    def _sample_program(self, sampler: str, inpaint: bool = False):
        fused = samplers.get_sampler(sampler)

        def run(unet_params, context, null_context, latents, sigmas, guidance, key, eta,
                z0=None, keep=None):
            if self.xl:
                apply = lambda x, t, c: self.unet.apply(
                    {"params": unet_params}, x, t, c["states"],
                    {"text_embeds": c["text_embeds"], "time_ids": c["time_ids"]})
            else:
                apply = lambda x, t, c: self.unet.apply({"params": unet_params}, x, t, c)
            denoise = samplers.text_denoiser(apply, self.diffusion["prediction"], self.schedule,
                                             context, null_context, guidance)
            if inpaint:
                model_denoise = denoise
                denoise = lambda x, sigma: keep * z0 + (1.0 - keep) * model_denoise(x, sigma)
            x = fused(denoise, latents * jnp.sqrt(1.0 + sigmas[0] ** 2), sigmas, key, eta)
            return x / jnp.sqrt(1.0 + sigmas[-1] ** 2)

        return run
