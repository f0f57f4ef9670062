"""Every data set a config can name (``data.dataset``), opened as a :class:`Source`.

:func:`open_source` dispatches: ``mnist-bundled`` and ``mnist-idx`` (the digits, zero-padded
to [32, 32, 1] exactly as :func:`latentlab.data.mnist.to_model_input` pads them), ``emoji``
(the bundled colour set), ``image-folder``, ``parquet`` and ``webdataset``. Every source it
returns also has ``labels`` ([N] class indices), ``counts`` (examples per class name),
``skipped`` (what ``data.on_error: skip`` left out), ``location`` and ``files`` (the bundled
sets' files and their SHA-256, for provenance).

:func:`describe` is what provenance and ``./latentlab data`` report about a source, and
:func:`write_class_grids` draws a grid of preprocessed training images per class.
"""

import hashlib
import json
import os
import re
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
from PIL import Image

from latentlab.data import emoji as emoji_lib
from latentlab.data import files as files_lib
from latentlab.data import mnist, preprocess
from latentlab.data.source import NO_LABEL, ArraySource, Source, training_indices

IMAGE_FOLDER, PARQUET, WEBDATASET = "image-folder", "parquet", "webdataset"
DATASETS = (mnist.BUNDLED, mnist.IDX, emoji_lib.DATASET, IMAGE_FOLDER, PARQUET, WEBDATASET)


class MemorySource(ArraySource):
    """A bundled data set held in memory, with what provenance records about it."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                 files: dict[str, str], location: str, captions: Sequence[str] | None = None):
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        super().__init__(images, labels, classes, digest, captions)
        self.files = dict(files)  # path relative to the project → SHA-256 hex
        self.location = location
        self.skipped: list[str] = []

    @property
    def counts(self) -> dict[str, int]:
        return files_lib.class_counts(self.labels, self.classes)


def _digits(section: dict, home) -> MemorySource:
    for key, allowed in (("resolution", (32, [32, 32])), ("channels", (1,))):
        if section.get(key) is not None and section[key] not in allowed:
            raise ValueError(f"data.{key}: the digits are 32×32 with one channel, got "
                             f"{section[key]!r}; remove it")
    found = mnist.source(section, home)
    digits = mnist.load(found.location)
    border = (mnist.MODEL_INPUT_SIZE - mnist.IMAGE_SIZE) // 2
    padded = np.pad(digits.images, ((0, 0), (border, border), (border, border)))[..., None]
    return MemorySource(padded, digits.labels.astype(np.int32),
                        [str(d) for d in range(mnist.NUM_CLASSES)], found.files, found.location)


def _emoji(section: dict, home) -> MemorySource:
    if section.get("path") is not None:
        raise ValueError("data.path: the emoji are bundled; remove data.path")
    home = Path(home).resolve()
    location = home / emoji_lib.CACHE_FILE
    if not location.is_file():
        raise ValueError(f"data.dataset: the bundled emoji are not at {location}; run "
                         "./latentlab setup")
    prep = preprocess.from_section(section, emoji_lib.DEFAULT_RESOLUTION)
    emoji = emoji_lib.load(location)
    images = np.stack([preprocess.to_array(Image.fromarray(rgba, "RGBA"), prep)
                       for rgba in emoji.images])
    return MemorySource(images, emoji.labels, [str(c) for c in emoji.categories],
                        {emoji_lib.CACHE_FILE: files_lib.sha256_of(location)}, str(location),
                        [str(n) for n in emoji.names])


def open_source(section: dict, home: str | os.PathLike) -> Source:
    """The data set of a config's ``data`` section, preprocessed as it says.

    Raises:
      ValueError: one line naming the key or file and the fix (an unknown data set, a missing
        path, an empty folder, a class folder without images, a bad image, a bad column...).
    """
    section = section or {}
    dataset = section.get("dataset", mnist.BUNDLED)
    if dataset in mnist.DATASETS:
        return _digits(section, home)
    if dataset == emoji_lib.DATASET:
        source = _emoji(section, home)
    elif dataset in (IMAGE_FOLDER, PARQUET, WEBDATASET):
        from latentlab.data import folder, parquet, shards
        prep = preprocess.from_section(section)
        opener = {IMAGE_FOLDER: folder.open_folder, PARQUET: parquet.open_parquet,
                  WEBDATASET: shards.open_shards}[dataset]
        source = opener(section, home, prep)
        source.files = {}
    else:
        raise ValueError(f"data.dataset: unknown value {dataset!r}; allowed: "
                         f"{', '.join(DATASETS)}")
    holdout = section.get("holdout", 0)
    if not isinstance(holdout, int) or isinstance(holdout, bool) or \
            not 0 <= holdout < len(source):
        raise ValueError(f"data.holdout: must be in [0, {len(source)}) for the {len(source)} "
                         f"examples of {dataset}, got {holdout!r}; hold out fewer")
    return source


class DataInfo(NamedTuple):
    """What provenance records about a config's data (JSON through the bridge)."""

    location: str               # absolute path (or pattern) of the data
    files: dict[str, str]       # bundled sets: each file, relative to the project → SHA-256
    examples: int               # examples (before the held-out split, after skipping)
    fingerprint: str            # changes when the data changes (hex)
    classes: list[str]          # class names; label i is classes[i]; empty if unlabelled
    counts: dict[str, int]      # examples per class
    shape: list[int]            # [H, W, C] of every preprocessed image
    skipped: int                # files or rows left out under data.on_error: skip


def describe(source: Source) -> DataInfo:
    return DataInfo(str(source.location), dict(source.files), len(source), source.fingerprint,
                    list(source.classes), dict(source.counts), list(source.shape),
                    len(source.skipped))


GRID_COLUMNS, GRID_ROWS, GRID_GAP = 8, 8, 2


def grid(images: Sequence[np.ndarray], columns: int = GRID_COLUMNS,
         gap: int = GRID_GAP) -> np.ndarray:
    """uint8 [H, W, C] images tiled in rows of ``columns`` with a white gap: uint8 image."""
    height, width, channels = images[0].shape
    rows = -(-len(images) // columns)
    canvas = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, channels),
                     255, np.uint8)
    for i, image in enumerate(images):
        top, left = gap + (i // columns) * (height + gap), gap + (i % columns) * (width + gap)
        canvas[top:top + height, left:left + width] = image
    return canvas


def write_png(array: np.ndarray, path: Path) -> None:
    """Writes uint8 [H, W, 1 or 3] as a PNG, atomically."""
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)


def write_class_grids(source: Source, holdout: int, out_dir: str | os.PathLike,
                      classes=None) -> list[str]:
    """One PNG per class (or one for unlabelled data) of up to 64 preprocessed training
    images, the first in the training order; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = training_indices(source, holdout, classes)
    labels = np.asarray(source.labels)[train]
    groups = [(f"grid-{i:03d}-{_slug(name)}.png", train[labels == i])
              for i, name in enumerate(source.classes)] if source.classes else \
        [("grid.png", train[labels == NO_LABEL])]
    paths = []
    for name, indices in groups:
        if len(indices) == 0:
            continue
        chosen = indices[:GRID_COLUMNS * GRID_ROWS]
        write_png(grid([source[int(i)].image for i in chosen]), out / name)
        paths.append(str(out / name))
    return paths


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:60] or "class"
