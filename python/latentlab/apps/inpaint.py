"""Inpainting images with a trained latent diffusion model, driven step by step from Java.

Java's ``SamplerSession`` samples unconditionally; after every step it replaces the latents of
the known region by the known latents re-noised to the current σ (x = z_known + σ ε), RePaint
style (Lugmayr et al. 2022, without resampling), so the last step, at σ = 0, leaves exactly
z_known there. This module holds the parts around that loop: masks, the known latents, and
the score — the data's classifier's accuracy on the completed images against the masked input.
:func:`prepare` starts a job before Java's loop and :func:`finish` scores it after; the
bridge's ``inpaint_prepare`` and ``inpaint_finish`` only hand tensors across.

Masks name the **missing** region of the H×W image, all its channels: ``left-half``,
``center`` (the middle half in each direction: 16×16 of the digits' 32×32), or a file (.npy or
.png read as grey, H×W or, for the digits, 28×28; nonzero = missing). The VAE maps
each f×f block of pixels (f = its downsampling factor, 4 here) to one latent cell, so a cell
counts as known only if all of its f×f pixels are known; a cell that sees any missing pixel is
generated. The known latents are the encoding of the masked input (missing pixels zeroed):
the original's missing pixels are never used.
"""

import numpy as np

from latentlab.apps import run_data, sdedit
from latentlab.checkpoint import LatentDiffusionModel
from latentlab.data.source import Source
from latentlab.metrics import classifier as classifier_lib

MASKS = ("left-half", "center")


def pixel_mask(spec: str, size: int | tuple[int, int] = 32, border: int = 2) -> np.ndarray:
    """The missing region of a mask spec over images of ``size`` (H, W; an int: square):
    [H, W] bool, True = missing. A mask file may also be ``border`` pixels smaller on each
    side (the digits' 28×28 in their 32×32 model input) and is zero-padded.

    Raises:
      ValueError: one line naming the mask and what is allowed.
    """
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    inner = (height - 2 * border, width - 2 * border)
    missing = np.zeros((height, width), bool)
    if spec == "left-half":
        missing[:, :width // 2] = True
    elif spec == "center":
        missing[height // 4:height - height // 4, width // 4:width - width // 4] = True
    elif spec.endswith(".npy") or spec.endswith(".png"):
        try:
            if spec.endswith(".npy"):
                array = np.load(spec, allow_pickle=False)
            else:
                from PIL import Image
                array = np.asarray(Image.open(spec).convert("L"))
        except (OSError, ValueError) as e:
            raise ValueError(f"mask: cannot read {spec} ({e})") from None
        if array.shape not in ((inner,) if border else ()) + ((height, width),):
            sizes = (f"{inner[0]}×{inner[1]} or " if border else "") + f"{height}×{width}"
            raise ValueError(f"mask: {spec} is {list(array.shape)}; need {sizes}")
        if array.shape != (height, width):
            array = np.pad(array, border)
        missing = np.asarray(array) != 0
    else:
        raise ValueError(f"mask: unknown mask {spec!r}; use {', '.join(MASKS)} or a .npy/.png file")
    if not missing.any() or missing.all():
        raise ValueError(f"mask: {spec} leaves nothing to {'fill' if not missing.any() else 'keep'}")
    return missing


def latent_known(missing: np.ndarray, factor: int, channels: int) -> np.ndarray:
    """Which latent cells are known: [h, w, channels] float32, 1 where all f×f pixels of the
    cell are known, else 0."""
    h, w = missing.shape[0] // factor, missing.shape[1] // factor
    blocks = missing[:h * factor, :w * factor].reshape(h, factor, w, factor).any(axis=(1, 3))
    return np.repeat((~blocks).astype(np.float32)[..., None], channels, axis=-1)


class Inpainting:
    """One inpainting job: originals, their masked versions and what Java needs for its loop."""

    def __init__(self, model: LatentDiffusionModel, originals: np.ndarray, labels: np.ndarray,
                 missing: np.ndarray, source: Source | None = None, holdout: int | None = None):
        self.model = model
        self.source = source        # the data it came from, whose training split
        self.holdout = holdout      # trains the classifier that scores it (see finish())
        self.originals = originals  # [N, H, W, C] float32 in [0, 1]
        self.labels = labels        # [N] int
        self.missing = missing      # [H, W] bool, over every channel
        self.masked = originals * (~missing)[None, :, :, None]
        self.known_latents = np.asarray(sdedit.encode(model, self.masked))  # [N, h, w, c]
        self.latent_known = latent_known(missing, model.vae.downsampling_factor,
                                         model.latent_shape[-1])             # [h, w, c]

    def score(self, completed: np.ndarray, classifier) -> dict:
        """Classifier accuracy on the originals, the masked input and the completed digits
        (the known pixels pasted back over the completion, as inpainting returns them)."""
        pasted = np.where(self.missing[None, :, :, None], completed, self.originals)
        accuracy = None if classifier is None else {
            name: float(np.mean(classifier.predict(images) == self.labels))
            for name, images in (("original", self.originals), ("masked", self.masked),
                                 ("completed", pasted))}
        return {"accuracy": accuracy, "count": int(len(self.labels)),
                "missing_pixels": int(self.missing.sum()),
                "known_latent_cells": int(self.latent_known[..., 0].sum()),
                "latent_cells": int(self.latent_known[..., 0].size)}, pasted


PICTURE_ROWS = 8  # images the picture shows at most


def prepare(model: LatentDiffusionModel, data: dict, home: str, mask: str,
            count: int) -> Inpainting:
    """A job on the first ``count`` held-out images of a run under ``mask`` (a spec of
    :func:`pixel_mask`); ``data`` is the run's data section (``holdout``, optional
    ``classes``, whose held-out images alone are used), opened in the project ``home``.

    Raises:
      ValueError: one line, for a bad mask or a count outside [1, held-out images].
    """
    source = run_data.open_data(data, home)
    missing = pixel_mask(mask, tuple(source.shape[:2]), run_data.border(data))
    held = run_data.indices(source, data["holdout"], data.get("classes"), held_out=True)
    if not 1 <= count <= len(held):
        raise ValueError(f"heldout: must be in [1, {len(held)}], got {count}")
    chosen = run_data.examples(source, held[:count])
    return Inpainting(model, chosen.images, chosen.labels, missing, source, data["holdout"])


def finish(job: Inpainting, completed: np.ndarray, cache_dir: str) -> tuple[dict, np.ndarray]:
    """Scores the completed images [N, H, W, C] in [0, 1] with the data's classifier (trained
    once on the run's full training split, cached in ``cache_dir``; data without labels gets
    no accuracy, ``None``): (the scores of :meth:`Inpainting.score`, the picture [3R, H, W, C]
    of R ≤ 8 rows of original | masked | completed)."""
    train, held = run_data.split(job.source, job.holdout, limit=run_data.MAX_REFERENCE_EXAMPLES)
    num_classes = len(job.source.classes)
    try:
        classifier_lib.check_labelled(train.labels, num_classes)
    except ValueError:
        classifier = None
    else:
        classifier = classifier_lib.load_or_train(cache_dir, train.images, train.labels,
                                                  held.images, held.labels, None, num_classes)
    result, pasted = job.score(completed, classifier)
    rows = min(PICTURE_ROWS, len(pasted))
    picture = np.stack([image for i in range(rows)
                        for image in (job.originals[i], job.masked[i], pasted[i])])
    return result, picture
