"""Inpainting digits with a trained latent diffusion model, driven step by step from Java.

Java's ``SamplerSession`` samples unconditionally; after every step it replaces the latents of
the known region by the known latents re-noised to the current σ (x = z_known + σ ε), RePaint
style (Lugmayr et al. 2022, without resampling), so the last step, at σ = 0, leaves exactly
z_known there. This module holds the parts around that loop: masks, the known latents, and
the score — the digit classifier's accuracy on the completed digits against the masked input.
:func:`prepare` starts a job before Java's loop and :func:`finish` scores it after; the
bridge's ``inpaint_prepare`` and ``inpaint_finish`` only hand tensors across.

Masks name the **missing** region: ``left-half``, ``center`` (the middle 16×16 of the 32×32
model input), or a file (.npy or grey .png, 28×28 or 32×32, nonzero = missing). The VAE maps
each f×f block of pixels (f = its downsampling factor, 4 here) to one latent cell, so a cell
counts as known only if all of its f×f pixels are known; a cell that sees any missing pixel is
generated. The known latents are the encoding of the masked input (missing pixels zeroed):
the original's missing pixels are never used.
"""

import numpy as np

from latentlab.apps import sdedit
from latentlab.checkpoint import LatentDiffusionModel
from latentlab.data import mnist
from latentlab.metrics import classifier as classifier_lib

MASKS = ("left-half", "center")


def pixel_mask(spec: str, size: int = mnist.MODEL_INPUT_SIZE) -> np.ndarray:
    """The missing region of a mask spec: [size, size] bool, True = missing.

    Raises:
      ValueError: one line naming the mask and what is allowed.
    """
    missing = np.zeros((size, size), bool)
    if spec == "left-half":
        missing[:, :size // 2] = True
    elif spec == "center":
        quarter = size // 4
        missing[quarter:size - quarter, quarter:size - quarter] = True
    elif spec.endswith(".npy") or spec.endswith(".png"):
        try:
            if spec.endswith(".npy"):
                array = np.load(spec, allow_pickle=False)
            else:
                from PIL import Image
                array = np.asarray(Image.open(spec).convert("L"))
        except (OSError, ValueError) as e:
            raise ValueError(f"mask: cannot read {spec} ({e})") from None
        if array.shape not in ((28, 28), (size, size)):
            raise ValueError(f"mask: {spec} is {list(array.shape)}; need 28×28 or {size}×{size}")
        if array.shape == (28, 28):
            array = np.pad(array, (size - 28) // 2)
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
                 missing: np.ndarray, data_path: str | None = None, holdout: int | None = None):
        self.model = model
        self.data_path = data_path  # the digits it came from, whose training split
        self.holdout = holdout      # trains the classifier that scores it (see finish())
        self.originals = originals  # [N, 32, 32, 1] float32 in [0, 1]
        self.labels = labels        # [N] int
        self.missing = missing      # [32, 32] bool
        self.masked = originals * (~missing)[None, :, :, None]
        self.known_latents = np.asarray(sdedit.encode(model, self.masked))  # [N, h, w, c]
        self.latent_known = latent_known(missing, model.vae.downsampling_factor,
                                         model.latent_shape[-1])             # [h, w, c]

    def score(self, completed: np.ndarray, classifier) -> dict:
        """Classifier accuracy on the originals, the masked input and the completed digits
        (the known pixels pasted back over the completion, as inpainting returns them)."""
        pasted = np.where(self.missing[None, :, :, None], completed, self.originals)
        accuracy = {name: float(np.mean(classifier.predict(images) == self.labels))
                    for name, images in (("original", self.originals), ("masked", self.masked),
                                         ("completed", pasted))}
        return {"accuracy": accuracy, "count": int(len(self.labels)),
                "missing_pixels": int(self.missing.sum()),
                "known_latent_cells": int(self.latent_known[..., 0].sum()),
                "latent_cells": int(self.latent_known[..., 0].size)}, pasted


PICTURE_ROWS = 8  # digits the picture shows at most


def prepare(model: LatentDiffusionModel, data_path: str, data: dict, mask: str,
            count: int) -> Inpainting:
    """A job on the first ``count`` held-out digits of a run under ``mask`` (a spec of
    :func:`pixel_mask`); ``data`` is the run's data section (``holdout``, optional
    ``classes``, whose held-out digits alone are used).

    Raises:
      ValueError: one line, for a bad mask or a count outside [1, held-out digits].
    """
    missing = pixel_mask(mask)
    _, held = mnist.split(mnist.load(data_path), data["holdout"])
    held = mnist.select_classes(held, data.get("classes"))
    if not 1 <= count <= len(held.labels):
        raise ValueError(f"heldout: must be in [1, {len(held.labels)}], got {count}")
    return Inpainting(model, mnist.to_model_input(held.images[:count]),
                      held.labels[:count].astype(np.int32), missing, data_path, data["holdout"])


def finish(job: Inpainting, completed: np.ndarray, cache_dir: str) -> tuple[dict, np.ndarray]:
    """Scores the completed digits [N, H, W, C] in [0, 1] with the digit classifier (trained
    once on the run's full training split, cached in ``cache_dir``): (the scores of
    :meth:`Inpainting.score`, the picture [3R, H, W, C] of R ≤ 8 rows of original | masked |
    completed)."""
    train, held = mnist.split(mnist.load(job.data_path), job.holdout)
    classifier = classifier_lib.load_or_train(
        cache_dir, mnist.to_model_input(train.images), train.labels,
        mnist.to_model_input(held.images), held.labels)
    result, pasted = job.score(completed, classifier)
    rows = min(PICTURE_ROWS, len(pasted))
    picture = np.stack([image for i in range(rows)
                        for image in (job.originals[i], job.masked[i], pasted[i])])
    return result, picture
