"""What every data set offers training: random access to preprocessed examples.

A :class:`Source` is a list of examples of one shape: ``source[i]`` decodes and preprocesses
example ``i`` (an image as uint8 [H, W, C], its class index and its caption). Sources read
lazily, so a data set need not fit in memory; the deterministic loader
(:mod:`latentlab.data.loader`) picks each step's indices as a pure function of (seed, step)
and decodes them ahead of the device.

:class:`ArraySource` holds its images in memory (the bundled digits, tests' small data).
:func:`split_indices` is the one held-out split of every data set.
"""

from typing import NamedTuple, Protocol, Sequence

import numpy as np

# Fixed for good: the held-out split must not move when an experiment's seed does (the digits'
# split has used it from the start; the trial ids and results of digit runs depend on it).
SPLIT_SEED = 20240607
# The label of an example of an unlabelled data set (data.labels: none).
NO_LABEL = -1


class Example(NamedTuple):
    image: np.ndarray    # [H, W, C] uint8, preprocessed to the config's resolution and channels
    label: int           # class index in [0, len(classes)), or NO_LABEL
    caption: str | None  # the example's text, where the data set has one


class Source(Protocol):
    """A data set, preprocessed: ``len(source)`` examples of ``shape``."""

    @property
    def shape(self) -> tuple[int, int, int]: ...    # (H, W, C) of every image

    @property
    def classes(self) -> tuple[str, ...]: ...       # class names; label i is classes[i]

    @property
    def fingerprint(self) -> str: ...               # changes when the data changes (hex)

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Example: ...


class ArraySource:
    """Images held in memory: uint8 [N, H, W, C], labels [N], optional captions."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                 fingerprint: str, captions: Sequence[str] | None = None):
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [N, H, W, C], got {images.dtype} "
                             f"{list(images.shape)}")
        if labels.shape != images.shape[:1]:
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        self.images, self.labels = images, np.asarray(labels, np.int32)
        self.captions = None if captions is None else list(captions)
        self._classes, self._fingerprint = tuple(classes), fingerprint

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Example:
        return Example(self.images[index], int(self.labels[index]),
                       None if self.captions is None else self.captions[index])


def split_indices(num_examples: int, holdout: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed (train, held-out) split of a data set of ``num_examples``: index arrays, the
    same ``holdout`` examples whatever the experiment's seed.

    Raises:
      ValueError: ``holdout`` outside [0, num_examples).
    """
    if not 0 <= holdout < num_examples:
        raise ValueError(f"holdout must be in [0, {num_examples}), got {holdout}")
    order = np.random.default_rng(SPLIT_SEED).permutation(num_examples)
    return order[holdout:], order[:holdout]


def labels_of(source: Source, indices=None) -> np.ndarray:
    """The labels (int32) of examples ``indices`` (every example when None), without decoding
    images where the source keeps its labels."""
    labels = getattr(source, "labels", None)
    if indices is None:
        indices = np.arange(len(source))
    if labels is not None:
        return np.asarray(labels, np.int32)[indices]
    return np.asarray([source[int(i)].label for i in indices], np.int32)


def training_indices(source: Source, holdout: int, classes=None, limit=None) -> np.ndarray:
    """The training examples' indices after the held-out split, restricted to ``classes``
    (class indices; None keeps every class), the first ``limit`` of them (``data.limit``;
    None keeps all). The one home of "what a run trains on"."""
    train, _ = split_indices(len(source), holdout)
    if classes is not None:
        train = train[np.isin(labels_of(source, train), list(classes))]
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"data.limit: must be a positive number of training examples, "
                             f"got {limit!r}; remove it to train on all of them")
        train = train[:limit]
    return train


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 [..., H, W, C] → float32 in [0, 1], what the models see."""
    return images.astype(np.float32) / 255.0
