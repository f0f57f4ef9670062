"""Anomaly detection with a latent diffusion model trained on some classes (``data.classes``):
held-out images of those classes are normal, held-out images of the other classes anomalous.
Every score is one number per image (over all its pixels and channels), at any size.

Scores (higher = more anomalous), each reported as AUROC:

- ``vae_reconstruction`` (the baseline): pixel MSE between a digit and the VAE's
  reconstruction of it;
- ``diffusion_reconstruction_t<T>``: pixel MSE between a digit and its SDEdit regeneration
  from training timestep T (encode, noise to σ_T, sample back unconditionally, decode;
  :mod:`latentlab.apps.sdedit`): a model that never saw a class pulls it towards the ones it knows
  (Graham et al. 2023 score anomalies the same way);
- ``denoising_loss``: the per-sample denoising loss of the U-Net's own objective, averaged over
  fixed evenly spaced timesteps with fixed noise — L_simple, the surrogate of the negative ELBO
  that Ho et al. 2020 train on.
"""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from latentlab.apps import run_data, sdedit
from latentlab.apps.run_data import Examples
from latentlab.checkpoint import LatentDiffusionModel
from latentlab.data.source import labels_of
from latentlab.diffusion.parameterization import target
from latentlab.diffusion.schedules import add_noise
from latentlab.metrics.roc import auroc, roc_curve
from latentlab.train.state import ProgressFn, no_progress

KEY_RECONSTRUCTION, KEY_LOSS = 21, 22  # purposes under the request's seed
BASELINE = "vae_reconstruction"
DEFAULTS = {"timesteps": [100, 250, 500], "loss_timesteps": 20, "per_group": 500,
            "steps": sdedit.DEFAULT_STEPS, "sampler": sdedit.DEFAULT_SAMPLER, "seed": 0}


def check_request(request: dict, num_timesteps: int | None = None) -> dict:
    """The request with defaults filled: ``timesteps`` (of the reconstruction scores),
    ``loss_timesteps`` (how many timesteps the denoising loss averages), ``per_group`` (at most
    this many normal and as many anomalous digits), ``steps``, ``sampler``, ``seed``.

    Raises:
      ValueError: one line naming the option and what is allowed.
    """
    request = {**DEFAULTS, **request}
    steps = request["timesteps"]
    limit = num_timesteps if num_timesteps is not None else 1 << 30
    if (not isinstance(steps, list) or not steps
            or any(not _int(t) or not 0 <= t < limit for t in steps)):
        raise ValueError(f"timesteps: need one or more training timesteps in [0, "
                         f"{num_timesteps or 'T'}), got {steps!r}")
    for key, low in (("loss_timesteps", 1), ("per_group", 2), ("steps", 1), ("seed", 0)):
        if not _int(request[key]) or request[key] < low:
            raise ValueError(f"{key}: must be an integer >= {low}, got {request[key]!r}")
    return request


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def split_groups(held: Examples, classes, per_group: int, num_classes: int = 10,
                 noun: str = "digit"):
    """(normal, anomalous) held-out examples: their class index in ``classes`` or not, at
    most ``per_group`` each, from ``num_classes`` classes.

    Raises:
      ValueError: if ``classes`` is None or holds every class, or a group is empty.
    """
    if classes is None or len(set(classes)) >= num_classes:
        raise ValueError(f"data.classes: the run trained on every class, so no {noun} is unseen; "
                         f"train a run with data.classes set to some {noun}s"
                         + (" (experiments/anomaly-mnist.yaml)" if noun == "digit" else ""))
    inside = np.isin(held.labels, list(classes))
    normal = Examples(held.images[inside][:per_group], held.labels[inside][:per_group])
    anomalous = Examples(held.images[~inside][:per_group], held.labels[~inside][:per_group])
    if len(normal.labels) < 2 or len(anomalous.labels) < 2:
        raise ValueError(f"data.holdout: the held-out split has {len(normal.labels)} normal and "
                         f"{len(anomalous.labels)} anomalous {noun}s; hold out more")
    return normal, anomalous


def vae_reconstruction(model: LatentDiffusionModel, images: np.ndarray) -> np.ndarray:
    """The VAE's reconstruction (the decoded posterior mean) of images [N, H, W, C], through
    the jitted encoder and decoder that the diffusion scores use."""
    return sdedit.decode(model, sdedit.encode(model, images))


def vae_reconstruction_error(model: LatentDiffusionModel, images: np.ndarray) -> np.ndarray:
    """Pixel MSE of each image [N, H, W, C] against the VAE's reconstruction. [N]"""
    return np.mean(np.square(vae_reconstruction(model, images) - images), axis=(1, 2, 3))


def diffusion_reconstruction_error(model: LatentDiffusionModel, images: np.ndarray, t: int, key,
                                   *, steps: int, sampler: str) -> np.ndarray:
    """Pixel MSE of each image against its regeneration from timestep ``t``. [N]"""
    latents = sdedit.encode(model, images)
    regenerated = sdedit.decode(model, sdedit.regenerate(
        model, latents, sdedit.sigma_of_timestep(model, t), key, steps=steps, sampler=sampler))
    return np.mean(np.square(regenerated - images), axis=(1, 2, 3))


@partial(jax.jit, static_argnames=("unet",))
def _loss_at(unet, params, schedule, latents, t, noise):
    x_t = add_noise(schedule, latents, noise, t)
    labels = jnp.full((latents.shape[0],), unet.null_label, jnp.int32)
    out = unet.apply({"params": params}, x_t, t, labels)
    alpha_bar = schedule.alphas_cumprod[t].reshape((-1, 1, 1, 1))
    return jnp.mean(jnp.square(out - target(unet.prediction, latents, noise, alpha_bar)),
                    axis=(1, 2, 3))


def denoising_loss(model: LatentDiffusionModel, images: np.ndarray, key, count: int,
                   batch_size: int = 500) -> np.ndarray:
    """Per-image denoising loss (the U-Net's training objective, unconditional) averaged over
    ``count`` evenly spaced timesteps, with noise fixed by ``key`` (image i's from
    fold_in(key, i)). [N]"""
    latents = sdedit.encode(model, images)
    n = latents.shape[0]
    timesteps = np.linspace(0, model.schedule.num_timesteps - 1, count).round().astype(np.int32)
    total = np.zeros(n)
    for k, t in enumerate(timesteps):
        step_key = jax.random.fold_in(key, k)
        noise = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(step_key, i),
                                                     latents.shape[1:]))(jnp.arange(n))
        for s in range(0, n, batch_size):
            chunk = slice(s, s + batch_size)
            size = latents[chunk].shape[0]
            total[chunk] += np.asarray(_loss_at(model.unet, model.unet_params, model.schedule,
                                                latents[chunk], jnp.full((size,), t, jnp.int32),
                                                noise[chunk]))
    return total / count


def detect(model: LatentDiffusionModel, normal: Examples, anomalous: Examples,
           request: dict, progress: ProgressFn = no_progress, class_names=None,
           noun: str = "digit") -> dict:
    """Scores both groups (model inputs [N, H, W, C]) with every score; returns JSON-able
    results: per score its AUROC, its AUROC per unseen class (keyed by ``class_names``, or the
    class index), and its ROC curve (``fpr``, ``tpr``)."""
    request = check_request(request, model.schedule.num_timesteps)
    root = jax.random.PRNGKey(request["seed"])
    name_of = (lambda c: str(c)) if class_names is None else (lambda c: str(class_names[c]))
    images = np.concatenate([normal.images, anomalous.images])
    labels = np.concatenate([normal.labels, anomalous.labels]).astype(int)
    n0 = len(normal.labels)
    jobs = [(BASELINE, lambda: vae_reconstruction_error(model, images))]
    for t in request["timesteps"]:
        jobs.append((f"diffusion_reconstruction_t{t}",
                     lambda t=t: diffusion_reconstruction_error(
                         model, images, t, jax.random.fold_in(
                             jax.random.fold_in(root, KEY_RECONSTRUCTION), t),
                         steps=request["steps"], sampler=request["sampler"])))
    jobs.append(("denoising_loss", lambda: denoising_loss(
        model, images, jax.random.fold_in(root, KEY_LOSS), request["loss_timesteps"])))
    scores = []
    progress("anomaly", 0, len(jobs), math.nan)
    for done, (name, run) in enumerate(jobs):
        values = np.asarray(run(), np.float64)
        fpr, tpr = roc_curve(values[:n0], values[n0:])
        per_class = {name_of(c): auroc(values[:n0], values[n0:][labels[n0:] == c])
                     for c in sorted(set(labels[n0:].tolist()))}
        scores.append({"name": name, "auroc": auroc(values[:n0], values[n0:]),
                       "auroc_per_unseen_class": per_class,
                       "normal_mean": float(values[:n0].mean()),
                       "anomalous_mean": float(values[n0:].mean()),
                       "fpr": fpr.tolist(), "tpr": tpr.tolist()})
        progress("anomaly", done + 1, len(jobs), scores[-1]["auroc"])
    return {"request": request, "normal": n0, "anomalous": int(len(anomalous.labels)),
            "normal_classes": sorted(set(normal.labels.astype(int).tolist())),
            "anomalous_classes": sorted(set(anomalous.labels.astype(int).tolist())),
            "baseline": BASELINE, "scores": scores, "markdown": markdown(scores, noun)}


def markdown(scores: list[dict], noun: str = "digit") -> str:
    """AUROC of each score beside the baseline, and per unseen class."""
    classes = list(scores[0]["auroc_per_unseen_class"])
    lines = ["| score | AUROC | " + " | ".join(f"{noun} {c}" for c in classes) + " |",
             "|---|---:|" + "---:|" * len(classes)]
    for s in scores:
        name = s["name"] + (" (baseline)" if s["name"] == BASELINE else "")
        lines.append(f"| {name} | {s['auroc']:.3f} | " + " | ".join(
            f"{s['auroc_per_unseen_class'][c]:.3f}" for c in classes) + " |")
    return "\n".join(lines) + "\n"


def detect_run(model: LatentDiffusionModel, data: dict, home: str, request: dict,
               progress: ProgressFn = no_progress) -> dict:
    """:func:`detect` on a run's held-out images; ``data`` is the run's data section
    (``holdout``, ``classes``), opened in the project ``home``.

    Raises:
      ValueError: one line, for a bad request or a run that trained on every class.
    """
    request = check_request(request, model.schedule.num_timesteps)
    source = run_data.open_data(data, home)
    noun = "digit" if run_data.is_digits(data) else "class"
    classes = run_data.class_indices(source, data.get("classes"))
    held = run_data.indices(source, data["holdout"], held_out=True)
    if classes is None or len(classes) >= len(source.classes):
        split_groups(Examples(np.zeros(0), np.zeros(0)), classes, 0, len(source.classes),
                     noun)  # raises: no class is unseen
    labels = labels_of(source, held)
    # Decode only the examples the groups use (a large held-out split is not read whole).
    inside = np.isin(labels, classes)
    chosen = np.concatenate([held[inside][:request["per_group"]],
                             held[~inside][:request["per_group"]]])
    chosen = held[np.isin(held, chosen)]  # the split's order, as the groups take them
    normal, anomalous = split_groups(run_data.examples(source, chosen), classes,
                                     request["per_group"], len(source.classes), noun)
    return detect(model, normal, anomalous, request, progress, list(source.classes), noun)
