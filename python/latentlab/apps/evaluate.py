"""Scoring a trained latent diffusion model: FID beside its floor, conditional accuracy, and
the quality-versus-NFE table of every sampler.

Features and predictions come from :mod:`latentlab.metrics.classifier`, trained once on the
model's own training split. Every FID is computed against the training images and reported with
its floor: the FID of as many held-out real images (what a perfect generator would score with
this sample size), and the FID of the VAE's reconstructions of them (what a perfect latent
denoiser would score through this VAE).
"""

import json
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from latentlab import checkpoint, sampling
from latentlab.checkpoint import LatentDiffusionModel
from latentlab.apps import run_data
from latentlab.data.source import Source
from latentlab.diffusion import samplers, schedules
from latentlab.metrics import classifier as classifier_lib
from latentlab.metrics.fid import feature_stats, frechet_distance
from latentlab.models.vae import reconstruct
from latentlab.train.state import ProgressFn, no_progress


class Evaluator:
    """Holds the classifier and the reference statistics of one model's data."""

    def __init__(self, model: LatentDiffusionModel, source: Source, holdout: int, cache_dir: str,
                 progress: ProgressFn = no_progress):
        self.model = model
        self.num_classes = len(source.classes)
        train, held = run_data.split(source, holdout, limit=run_data.MAX_REFERENCE_EXAMPLES)
        classifier_lib.check_labelled(train.labels, self.num_classes)
        self.train_images = train.images
        self.held_images = held.images
        self.held_labels = held.labels
        self.classifier = classifier_lib.load_or_train(
            cache_dir, self.train_images, train.labels, self.held_images, held.labels, progress,
            self.num_classes)
        self.train_stats = feature_stats(self.classifier.features(self.train_images))
        self._floors: dict[int, dict] = {}

    def floors(self, count: int) -> dict:
        """FID of ``count`` held-out real images, and of their VAE reconstructions."""
        if count not in self._floors:
            if count > len(self.held_images):
                raise ValueError(f"{count} samples but only {len(self.held_images)} held-out "
                                 "images for the floor; raise data.holdout or sample fewer")
            real = self.held_images[:count]
            recon = np.asarray(reconstruct(self.model.vae, self.model.vae_params, real, 500))
            self._floors[count] = {
                "fid_floor": self._fid(real),
                "fid_vae_reconstruction": self._fid(recon),
            }
        return self._floors[count]

    def _fid(self, images) -> float:
        return frechet_distance(feature_stats(self.classifier.features(images)), self.train_stats)

    def score(self, *, sampler: str, steps: int, guidance_scale: float, num_samples: int,
              seed: int = 0, spacing: str = schedules.DEFAULT_SPACING,
              rho: float = schedules.DEFAULT_RHO, eta: float | None = None) -> dict:
        """Samples ``num_samples`` images (labels cycling through the classes) and scores them."""
        return self.score_and_images(sampler=sampler, steps=steps, guidance_scale=guidance_scale,
                                     num_samples=num_samples, seed=seed, spacing=spacing,
                                     rho=rho, eta=eta)[0]

    def score_and_images(self, *, sampler: str, steps: int, guidance_scale: float,
                         num_samples: int, seed: int = 0,
                         spacing: str = schedules.DEFAULT_SPACING,
                         rho: float = schedules.DEFAULT_RHO, eta: float | None = None):
        """(score, images [num_samples, H, W, C] in [0, 1]) of :meth:`score`.

        Raises:
          FloatingPointError: if sampling produced NaN or infinite values.
        """
        labels = (np.arange(num_samples) % self.num_classes).astype(np.int32)
        started = time.perf_counter()
        latents = sampling.sample(self.model, sampler=sampler, steps=steps, seed=seed,
                                  labels=labels, guidance_scale=guidance_scale, eta=eta,
                                  spacing=spacing, rho=rho)
        images = np.asarray(sampling.decode(self.model, latents))
        seconds = time.perf_counter() - started
        if not np.isfinite(images).all():
            raise FloatingPointError(f"{sampler}, {steps} steps, guidance {guidance_scale}: "
                                     "sampling produced NaN or infinite values")
        predicted = self.classifier.predict(images)
        fid = self._fid(images)
        floors = self.floors(num_samples)
        # sampling (seconds) and scoring: the cell's whole work, which a sweep's overhead is
        # measured against (bench/sweep.py)
        work_seconds = time.perf_counter() - started
        return {
            "sampler": sampler, "steps": steps, "nfe": samplers.evaluations(sampler, steps),
            "spacing": spacing, "guidance_scale": guidance_scale, "num_samples": num_samples,
            "seed": seed, "eta": samplers.eta_or_default(sampler, eta),
            "fid": fid, **floors, "fid_over_floor": fid / floors["fid_floor"],
            "conditional_accuracy": float(np.mean(predicted == labels)),
            "classifier_heldout_accuracy": self.classifier.heldout_accuracy,
            "classifier_digest": self.classifier.digest, "seconds": seconds,
            "work_seconds": work_seconds,
        }, images


SCORE_OPTIONS = ("sampler", "steps", "guidance_scale", "seed", "spacing", "rho", "eta")


def check_request(request: dict, holdout: int) -> None:
    """Checks an evaluation request (the options of :meth:`Evaluator.score` plus
    ``num_samples`` and, for the NFE table, ``nfes`` and ``table_samples``) before anything
    expensive runs.

    Raises:
      ValueError: one line naming the option and what is allowed.
    """
    missing = [k for k in SCORE_OPTIONS + ("num_samples",) if k not in request]
    if missing:
        raise ValueError(f"evaluate: the request lacks {', '.join(missing)}")
    if request["sampler"] not in samplers.SAMPLERS:
        raise ValueError(f"sampler: unknown value {request['sampler']!r}; allowed: "
                         f"{', '.join(samplers.SAMPLERS)}")
    if request["spacing"] not in schedules.SPACINGS:
        raise ValueError(f"spacing: unknown value {request['spacing']!r}; allowed: "
                         f"{', '.join(schedules.SPACINGS)}")
    _check_int(request, "steps", 1)
    _check_int(request, "seed", 0)
    sampling.check_guidance(request["guidance_scale"], "guidance_scale")
    if not _is_number(request["rho"]) or not request["rho"] > 0:
        raise ValueError(f"rho: must be a positive number, got {request['rho']!r}")
    sampling.check_eta(request["eta"], "eta")
    # FID needs two samples; the floor needs as many held-out images as samples.
    _check_int(request, "num_samples", 2, holdout, "data.holdout")
    if request.get("nfes"):
        nfes = request["nfes"]
        if not isinstance(nfes, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in nfes):
            raise ValueError(f"nfes: must be a list of positive integers, got {nfes!r}")
        _check_int(request, "table_samples", 2, holdout, "data.holdout")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(request: dict, key: str, low: int, high: int | None = None,
               high_name: str | None = None) -> None:
    value = request.get(key)
    if (not isinstance(value, int) or isinstance(value, bool) or value < low
            or (high is not None and value > high)):
        bound = f">= {low}" if high is None else f"in [{low}, {high_name} = {high}]"
        raise ValueError(f"{key}: must be an integer {bound}, got {value!r}")


def evaluate(checkpoint_dir: str, data: dict, home: str | os.PathLike, cache_dir: str,
             request: dict, progress: ProgressFn = no_progress,
             load_model: Callable[[str], LatentDiffusionModel] = checkpoint.load) -> dict:
    """Scores a run's model as ``request`` asks: ``{"score": ...}``, plus ``"table"`` and
    ``"markdown"`` when it names ``nfes``. ``data`` is the run's data section, opened in the
    project ``home``. The request, the checkpoint and the data are checked before the
    classifier is trained or anything is sampled.

    Raises:
      ValueError: one line, for a bad request, a missing checkpoint or data set, or data
        without labels (FID needs them; see :mod:`latentlab.metrics.classifier`).
    """
    holdout = data.get("holdout", 0)
    check_request(request, holdout)
    checkpoint.identity(checkpoint_dir)  # raises if there is no checkpoint
    source = run_data.open_data(data, home)
    evaluator = Evaluator(load_model(checkpoint_dir), source, holdout, cache_dir, progress)
    options = {k: request[k] for k in SCORE_OPTIONS}
    score = evaluator.score(num_samples=request["num_samples"], **options)
    out = {"score": score}
    if request.get("nfes"):
        table = nfe_table(evaluator, nfes=tuple(request["nfes"]),
                          guidance_scale=options["guidance_scale"],
                          num_samples=request["table_samples"], seed=options["seed"],
                          spacing=options["spacing"], progress=progress)
        out["table"] = table
        out["markdown"] = markdown(score, table,
                                   "digit" if run_data.is_digits(data) else "image")
    return out


class EvaluatorCache:
    """The evaluators of the last few (checkpoint, data) pairs: a sweep's trials share one
    model, one trained classifier and one set of reference statistics, and each (sampler,
    steps, batch) compiles once across them."""

    def __init__(self, capacity: int = 2):
        self.capacity = capacity
        self._evaluators: dict = {}

    def get(self, checkpoint_dir: str, data: dict, home: str | os.PathLike, cache_dir: str,
            progress: ProgressFn, load_model: Callable[[str], LatentDiffusionModel]) -> Evaluator:
        key = (str(Path(checkpoint_dir).resolve()), checkpoint.identity(checkpoint_dir),
               json.dumps(data, sort_keys=True), str(Path(home).resolve()), str(cache_dir))
        evaluator = self._evaluators.pop(key, None)
        if evaluator is None:
            evaluator = Evaluator(load_model(checkpoint_dir), run_data.open_data(data, home),
                                  data.get("holdout", 0), cache_dir, progress)
        self._evaluators[key] = evaluator  # most recent last
        while len(self._evaluators) > self.capacity:
            self._evaluators.pop(next(iter(self._evaluators)))
        return evaluator

    def __len__(self) -> int:
        return len(self._evaluators)


def sweep_trial(evaluators: EvaluatorCache, checkpoint_dir: str, data: dict,
                home: str | os.PathLike, cache_dir: str, request: dict,
                progress: ProgressFn = no_progress,
                load_model: Callable[[str], LatentDiffusionModel] = checkpoint.load):
    """One sampling trial of a sweep: (score, preview images [P, H, W, C]) where the preview
    is the first ``request["preview"]`` scored samples (labels 0, 1, 2, ... at the request's
    seed, so previews line up across a sweep). Checked like :func:`evaluate` before any work.

    Raises:
      ValueError: one line, for a bad request or a missing checkpoint or data set.
      FloatingPointError: if sampling produced NaN or infinite values.
    """
    check_request(request, data.get("holdout", 0))
    preview = request.get("preview", 0)
    if not isinstance(preview, int) or isinstance(preview, bool) or preview < 0:
        raise ValueError(f"preview: must be an integer >= 0, got {preview!r}")
    checkpoint.identity(checkpoint_dir)  # raises if there is no checkpoint
    evaluator = evaluators.get(checkpoint_dir, data, home, cache_dir, progress, load_model)
    progress("score", 0, 1, math.nan)
    score, images = evaluator.score_and_images(
        num_samples=request["num_samples"], **{k: request[k] for k in SCORE_OPTIONS})
    progress("score", 1, 1, score["fid"])
    return score, images[:max(1, min(preview, len(images)))]


def steps_for_nfe(sampler: str, nfe: int) -> int:
    """The steps whose model evaluations come closest to ``nfe`` without exceeding it."""
    per_step = samplers.record(sampler).evaluations_per_step  # Heun's last step evaluates once
    return max(1, (nfe + per_step - 1) // per_step)


def nfe_table(evaluator: Evaluator, *, nfes=(5, 10, 20, 50), names=samplers.SAMPLERS,
              guidance_scale: float, num_samples: int, seed: int = 0,
              spacing: str = schedules.DEFAULT_SPACING, reference_steps: int = 100, progress: ProgressFn = no_progress) -> list[dict]:
    """Scores every sampler at every NFE, and DDIM at ``reference_steps`` as the many-step
    reference. Rows are :meth:`Evaluator.score` dicts."""
    jobs = [(name, steps_for_nfe(name, nfe)) for name in names for nfe in nfes]
    jobs.append(("ddim", reference_steps))
    rows = []
    progress("evaluate", 0, len(jobs), float("nan"))  # each sampler's first call compiles
    for done, (name, steps) in enumerate(jobs):
        rows.append(evaluator.score(sampler=name, steps=steps, guidance_scale=guidance_scale,
                                    num_samples=num_samples, seed=seed, spacing=spacing))
        progress("evaluate", done + 1, len(jobs), rows[-1]["fid"])
    return rows


def markdown(score: dict, table: list[dict], subject: str = "digit") -> str:
    """The quality-vs-NFE report: FID and conditional accuracy of every sampler at each NFE,
    beside the many-step reference and the floors; ``subject`` names what the classifier
    classifies ("digit", "image")."""
    reference = table[-1]
    rows = table[:-1]
    nfes = sorted({r["nfe"] for r in rows if r["sampler"] != "heun"})
    names = list(dict.fromkeys(r["sampler"] for r in rows))
    by = {(r["sampler"], r["nfe"]): r for r in rows}
    heun = {nfe: next((r for r in rows if r["sampler"] == "heun"
                       and steps_for_nfe("heun", nfe) == r["steps"]), None) for nfe in nfes}

    def cell(name, nfe, key, fmt):
        row = heun[nfe] if name == "heun" else by.get((name, nfe))
        if row is None:
            return "–"
        text = fmt.format(row[key])
        return text + (f" ({row['nfe']})" if name == "heun" else "")

    n = reference["num_samples"]
    lines = [
        "# Quality against the number of model evaluations",
        "",
        f"Written by `latentlab evaluate --nfe-table`. Samples per cell: {n}; guidance {reference['guidance_scale']}; spacing "
        f"{reference['spacing']}; seed {reference['seed']}. FID against the training images on "
        f"the features of LatentLab's {subject} classifier (held-out accuracy "
        f"{reference['classifier_heldout_accuracy']:.4f}).",
        "",
        f"- Floor (FID of {n} held-out real images): **{reference['fid_floor']:.3f}**",
        f"- VAE reconstructions of those images: {reference['fid_vae_reconstruction']:.3f}",
        f"- Reference, DDIM {reference['steps']} steps: FID **{reference['fid']:.3f}**, "
        f"conditional accuracy {reference['conditional_accuracy']:.4f}",
        "",
        "FID (lower is better; Heun's actual NFE in brackets):",
        "",
        "| sampler | " + " | ".join(f"NFE {nfe}" for nfe in nfes) + " |",
        "|---|" + "---:|" * len(nfes),
    ]
    lines += [f"| {name} | " + " | ".join(cell(name, nfe, "fid", "{:.3f}") for nfe in nfes)
              + " |" for name in names]
    lines += ["", "FID relative to DDIM at "
              f"{reference['steps']} steps (1.00 = as good as the many-step result):", "",
              "| sampler | " + " | ".join(f"NFE {nfe}" for nfe in nfes) + " |",
              "|---|" + "---:|" * len(nfes)]
    for name in names:
        cells = []
        for nfe in nfes:
            row = heun[nfe] if name == "heun" else by.get((name, nfe))
            cells.append("–" if row is None else f"{row['fid'] / reference['fid']:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Conditional accuracy (share of samples the classifier assigns to the requested "
              "class):", "",
              "| sampler | " + " | ".join(f"NFE {nfe}" for nfe in nfes) + " |",
              "|---|" + "---:|" * len(nfes)]
    lines += [f"| {name} | " + " | ".join(cell(name, nfe, "conditional_accuracy", "{:.3f}")
                                         for nfe in nfes) + " |" for name in names]
    lines += ["", f"Headline ({score['sampler']}, {score['steps']} steps, guidance "
              f"{score['guidance_scale']}, {score['num_samples']} samples): FID "
              f"{score['fid']:.3f} = {score['fid_over_floor']:.2f}× its floor "
              f"{score['fid_floor']:.3f}; conditional accuracy {score['conditional_accuracy']:.4f}."]
    return "\n".join(lines) + "\n"
