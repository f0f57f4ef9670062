"""A run's data as the applications see it: its :class:`~latentlab.data.source.Source`, split
into the training and held-out examples (the one split of :func:`split_indices`), restricted to
the run's ``data.classes``, as model inputs [N, H, W, C] float32 in [0, 1].

Every application (evaluate, denoise, inpaint, anomaly) opens its data here from the run's
``data`` section and the project home, whatever the data set: the digits, the emoji, a folder
of images, Parquet files or shards.
"""

import importlib.util
import os
from typing import NamedTuple, Sequence

import numpy as np

from latentlab.data import mnist
from latentlab.data.source import ArraySource, Source, labels_of, split_indices, to_model_input

# The scoring classifier and FID's reference statistics use at most this many training (and
# held-out) examples, the first in the split's order, so a large data set is not held whole in
# memory (the 9,000 training digits are all used).
MAX_REFERENCE_EXAMPLES = 50_000


class Examples(NamedTuple):
    images: np.ndarray  # [N, H, W, C] float32 in [0, 1], what the models see
    labels: np.ndarray  # [N] int32 class indices (NO_LABEL for unlabelled data)


def open_data(section: dict, home: str | os.PathLike) -> Source:
    """The data set of a run's ``data`` section (``dataset``, ``path``, ``holdout``, ...).

    Raises:
      ValueError: one line naming the key or file and the fix.
    """
    if importlib.util.find_spec("latentlab.data.sources") is None:
        return _digits(section, home)  # until every data set opens through data.sources
    from latentlab.data.sources import open_source
    return open_source(section, home)


def _digits(section: dict, home) -> Source:
    """The digits as a Source: [32, 32, 1], zero-padded as :func:`mnist.to_model_input` pads."""
    found = mnist.source(section, home)
    digits = mnist.load(found.location)
    border = (mnist.MODEL_INPUT_SIZE - mnist.IMAGE_SIZE) // 2
    padded = np.pad(digits.images, ((0, 0), (border, border), (border, border)))[..., None]
    return ArraySource(padded, digits.labels.astype(np.int32),
                       [str(d) for d in range(mnist.NUM_CLASSES)],
                       next(iter(found.files.values()), ""))


def border(section: dict) -> int:
    """Pixels of padding around each image that are not data: the digits' 2-pixel zero border
    (28×28 digits in 32×32 model inputs), which PSNR and SSIM leave out; 0 otherwise."""
    if section.get("dataset", mnist.BUNDLED) in mnist.DATASETS:
        return (mnist.MODEL_INPUT_SIZE - mnist.IMAGE_SIZE) // 2
    return 0


def is_digits(section: dict) -> bool:
    return section.get("dataset", mnist.BUNDLED) in mnist.DATASETS


def class_indices(source: Source, classes) -> tuple[int, ...] | None:
    """A run's ``data.classes`` as sorted class indices: None (every class) stays None; each
    entry is a class index or a class name of ``source``.

    Raises:
      ValueError: one line naming data.classes and what is allowed.
    """
    if classes is None:
        return None
    names = list(source.classes)
    if not isinstance(classes, (list, tuple)) or not classes:
        raise ValueError(f"data.classes: must be a non-empty list of classes, got {classes!r}")
    out = []
    for c in classes:
        if isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(names):
            out.append(c)
        elif isinstance(c, str) and c in names:
            out.append(names.index(c))
        else:
            raise ValueError(f"data.classes: {c!r} is not a class of the data ({len(names)} "
                             f"classes: {', '.join(names[:10])}{', ...' if len(names) > 10 else ''})")
    return tuple(sorted(set(out)))


def indices(source: Source, holdout: int, classes=None, *, held_out: bool) -> np.ndarray:
    """The training (or held-out) examples' indices, in the split's order, of ``classes``."""
    train, held = split_indices(len(source), holdout)
    chosen = held if held_out else train
    keep = class_indices(source, classes)
    if keep is not None:
        chosen = chosen[np.isin(labels_of(source, chosen), keep)]
    return chosen


def examples(source: Source, chosen: Sequence[int]) -> Examples:
    """Examples ``chosen`` as model inputs, decoded in that order."""
    if isinstance(source, ArraySource):
        chosen = np.asarray(chosen, np.int64)
        images, labels = source.images[chosen], source.labels[chosen]
    else:
        items = [source[int(i)] for i in chosen]
        images = np.stack([e.image for e in items]) if items else \
            np.zeros((0,) + tuple(source.shape), np.uint8)
        labels = np.asarray([e.label for e in items], np.int32)
    return Examples(to_model_input(images), np.asarray(labels, np.int32))


def split(source: Source, holdout: int, classes=None, *, limit: int | None = None
          ) -> tuple[Examples, Examples]:
    """(training, held-out) examples of ``classes``; at most ``limit`` of each if given."""
    train = indices(source, holdout, classes, held_out=False)[:limit]
    held = indices(source, holdout, classes, held_out=True)[:limit]
    return examples(source, train), examples(source, held)
