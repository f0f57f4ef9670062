"""The whole latent-diffusion job: train the VAE, then the latent U-Net, then sample.

:func:`train_and_sample` is what ``latentlab run`` executes; it takes the resolved config
as a plain dict (see :mod:`latentlab.experiment`) and returns arrays and scalar metrics.
"""

import os
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from latentlab import checkpoint, sampling
from latentlab import experiment
from latentlab import execution as execution_lib
from latentlab.data import mnist
from latentlab.diffusion import schedules
from latentlab.metrics import psnr
from latentlab.models import VAE, UNet
from latentlab.models.vae import reconstruct
from latentlab.train import loops
from latentlab.train.resume import StageCheckpoints
from latentlab.train.state import ProgressFn, no_progress

# Keys by purpose, each fold_in'ed into the root key of the config's seed (sampling's is
# latentlab.sampling.KEY_SAMPLE).
KEY_VAE, KEY_UNET = 1, 2
# Training state is saved this often (steps) so a killed run resumes; it does not change results.
CHECKPOINT_EVERY = 100


class LdmResult(NamedTuple):
    latents: jax.Array  # [S, h, w, c] float32, sampled latents in the VAE's latent space, on
                        # one device (gathered from the mesh: Java takes one buffer)
    images: jax.Array   # [S, H, W, 1] float32 in [0, 1], the decoded samples
    labels: np.ndarray  # [S] int32, the class each sample was conditioned on
    metrics: dict[str, Any]
    execution: dict[str, Any]  # where it ran: backend, devices, mesh, precision


def sample_labels(num_samples: int, num_classes: int) -> np.ndarray:
    """Cycles through the classes so a grid shows every digit. [S] int32"""
    return (np.arange(num_samples) % max(num_classes, 1)).astype(np.int32)


def train_and_sample(config: dict, data_path: str, progress: ProgressFn = no_progress,
                     checkpoint_dir: str | None = None, replicate: int = 0) -> LdmResult:
    """Trains a VAE and a latent U-Net on the bundled digits, saves them to ``checkpoint_dir``
    (if given) and samples from them with the config's seed. With ``checkpoint_dir``, training
    state is saved as it goes (``training/``) and a run started again resumes from it.
    ``replicate`` > 0 draws every key from another root (see :func:`sampling.root_key`)."""
    cfg = experiment.resolve(config)
    vae = VAE(**cfg["model"]["vae"])
    unet = UNet(**cfg["model"]["unet"])
    ex = execution_lib.from_config(cfg.get("execution"))
    root = sampling.root_key(cfg["seed"], replicate)
    train_cfg, sample_cfg, diff_cfg = cfg["train"], cfg["sample"], cfg["diffusion"]
    metrics: dict[str, Any] = {}

    checkpoints = None if checkpoint_dir is None else StageCheckpoints(
        os.path.join(checkpoint_dir, "training"), CHECKPOINT_EVERY)
    train_digits, held_digits = mnist.split(mnist.load(data_path), cfg["data"]["holdout"])
    # data.classes trains on some digits only (anomaly detection); the held-out split stays
    # the same whatever the classes, so it holds the unseen classes too.
    train_digits = mnist.select_classes(train_digits, cfg["data"].get("classes"))
    experiment.check_training_examples(cfg, len(train_digits.labels))
    images = mnist.to_model_input(train_digits.images)

    for stage in ("vae", "unet"):  # > 0 when this run resumed a killed one
        metrics[f"{stage}_resumed_from_step"] = checkpoints.saved_step(stage) if checkpoints else 0
    # Each stage first reports (stage, 0, total, NaN): its first jitted call compiles, which
    # takes a while before step 1 arrives (a progress bar shows "compiling").
    progress("vae", 0, train_cfg["vae"]["steps"], float("nan"))
    started = time.perf_counter()
    vae_state, metrics["vae_final_loss"] = loops.train_vae(
        vae, images, jax.random.fold_in(root, KEY_VAE), steps=train_cfg["vae"]["steps"],
        batch_size=train_cfg["vae"]["batch_size"],
        learning_rate=train_cfg["vae"]["learning_rate"],
        kl_weight=train_cfg["vae"]["kl_weight"], progress=progress, checkpoints=checkpoints,
        execution=ex)
    metrics["vae_train_seconds"] = time.perf_counter() - started
    vae_params = vae_state.params

    held = jnp.asarray(mnist.to_model_input(
        mnist.select_classes(held_digits, cfg["data"].get("classes")).images))
    metrics["vae_heldout_psnr_db"] = float(psnr(held, reconstruct(vae, vae_params, held)))

    means, log_vars = loops.encode_dataset(vae, vae_params, images)
    scale = loops.latent_scale(means)
    metrics["latent_scale"] = scale

    schedule = schedules.make_schedule(diff_cfg["beta_schedule"], diff_cfg["num_timesteps"],
                                       diff_cfg["beta_start"], diff_cfg["beta_end"])
    progress("unet", 0, train_cfg["unet"]["steps"], float("nan"))
    started = time.perf_counter()
    unet_state, metrics["unet_final_loss"] = loops.train_denoiser(
        unet, means, log_vars, train_digits.labels, scale, schedule,
        jax.random.fold_in(root, KEY_UNET), steps=train_cfg["unet"]["steps"],
        batch_size=train_cfg["unet"]["batch_size"],
        learning_rate=train_cfg["unet"]["learning_rate"],
        ema_decay=train_cfg["unet"]["ema_decay"],
        label_dropout=train_cfg["unet"]["label_dropout"],
        loss_weighting=train_cfg["unet"]["loss_weighting"],
        min_snr_gamma=train_cfg["unet"]["min_snr_gamma"], progress=progress,
        checkpoints=checkpoints, execution=ex)
    metrics["unet_train_seconds"] = time.perf_counter() - started

    model = checkpoint.LatentDiffusionModel(vae, vae_params, unet, unet_state.ema_params, schedule,
                                            scale, tuple(means.shape[1:]))
    if checkpoint_dir is not None:
        checkpoint.save(checkpoint_dir, model, cfg)

    classes = cfg["data"].get("classes")
    labels = sample_labels(sample_cfg["num_samples"], unet.num_classes)
    if classes is not None:  # only the digits it was trained on
        labels = np.asarray(classes, np.int32)[np.arange(len(labels)) % len(classes)]
    progress("sample", 0, sample_cfg["steps"], float("nan"))
    started = time.perf_counter()
    scaled = sampling.sample(model, sampler=sample_cfg["sampler"], steps=sample_cfg["steps"],
                             seed=cfg["seed"], labels=labels,
                             guidance_scale=sample_cfg["guidance_scale"], eta=sample_cfg["eta"],
                             spacing=sample_cfg["spacing"], rho=sample_cfg["rho"],
                             replicate=replicate, execution=ex)
    images_out = sampling.decode(model, scaled)
    images_out.block_until_ready()
    metrics["sample_seconds"] = time.perf_counter() - started
    progress("sample", sample_cfg["steps"], sample_cfg["steps"], float("nan"))
    where = ex.describe()
    # Split over the mesh, the latents are gathered onto one device before they cross (a
    # device-to-device copy); replicated or on one device, they are not.
    where["latents_gathered_from_devices"] = (
        1 if scaled.sharding.is_fully_replicated else len(scaled.sharding.device_set))
    latents = execution_lib.gather(scaled / scale)
    return LdmResult(latents, execution_lib.gather(images_out), labels, metrics, where)
