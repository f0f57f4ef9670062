"""The bundled colour data set: Google's Noto emoji from the npm package
emoji-datasource-google@16.0.0 (the package under the MIT licence, the pictures under the
Apache License 2.0).

The package holds ``package/emoji.json`` (each emoji's name, category and image file) and
``package/img/google/64/*.png`` (64×64 RGBA). LatentLab uses the 1,906 base emoji outside the
"Component" category (the five skin-tone swatches); the 1,875 skin-tone variants are left out,
as near-copies of People & Body that would make it a fifth of the data set twice over. The
label of an emoji is its category (9, sorted names), its caption its name in lower case.

:func:`convert_npm_tarball` turns the tarball into ``.cache/emoji-google-64.npz`` once (uint8
RGBA images [N, 64, 64, 4], labels, names, categories; no pickle); ``python -m
latentlab.data.emoji setup PROJECT_ROOT`` fetches, checks and converts (the launcher's set-up
does).
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from latentlab.data.mnist import sha256_of

NPM_PACKAGE = "emoji-datasource-google@16.0.0"
TARBALL = "emoji-datasource-google-16.0.0.tgz"  # the name `npm pack` gives it
TARBALL_SHA256 = "fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438"
CACHE_DIR = ".cache"
CACHE_FILE = CACHE_DIR + "/emoji-google-64.npz"
DATASET = "emoji"
IMAGE_DIR = "package/img/google/64/"
LEFT_OUT = ("Component",)
IMAGE_SIZE = 64
DEFAULT_RESOLUTION = 32


class Emoji(NamedTuple):
    images: np.ndarray      # [N, 64, 64, 4] uint8 RGBA
    labels: np.ndarray      # [N] int32, index into categories
    names: np.ndarray       # [N] str, e.g. "red apple"
    categories: np.ndarray  # [9] str, sorted


def convert_npm_tarball(tarball: str | os.PathLike, out: str | os.PathLike) -> Emoji:
    """Verifies the tarball's SHA-256, decodes the base emoji and writes ``out`` atomically."""
    actual = sha256_of(tarball)
    if actual != TARBALL_SHA256:
        raise ValueError(f"{tarball}: SHA-256 is {actual}, expected {TARBALL_SHA256}; "
                         "delete it and run the set-up again")
    pictures, described = {}, None
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            if member.isfile() and member.name.startswith(IMAGE_DIR):
                pictures[member.name[len(IMAGE_DIR):]] = archive.extractfile(member).read()
            elif member.name == "package/emoji.json":
                described = json.load(archive.extractfile(member))
    if described is None:
        raise ValueError(f"{tarball}: no package/emoji.json; delete it and run the set-up again")
    chosen = sorted((e for e in described if e["category"] not in LEFT_OUT),
                    key=lambda e: e["sort_order"])
    categories = sorted({e["category"] for e in chosen})
    images = np.empty((len(chosen), IMAGE_SIZE, IMAGE_SIZE, 4), np.uint8)
    for i, entry in enumerate(chosen):
        with Image.open(io.BytesIO(pictures[entry["image"]])) as picture:
            if picture.size != (IMAGE_SIZE, IMAGE_SIZE):
                raise ValueError(f"{tarball}: {entry['image']} is {picture.size}, expected "
                                 f"{IMAGE_SIZE}×{IMAGE_SIZE}")
            images[i] = np.asarray(picture.convert("RGBA"))
    result = Emoji(images,
                   np.array([categories.index(e["category"]) for e in chosen], np.int32),
                   np.array([e["name"].lower() for e in chosen]), np.array(categories))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **result._asdict())
    os.replace(tmp, out)
    return result


def load(path: str | os.PathLike) -> Emoji:
    """Reads the converted emoji (no pickle)."""
    with np.load(path, allow_pickle=False) as archive:
        return Emoji(*(archive[field] for field in Emoji._fields))


def setup(root: str | os.PathLike) -> int:
    """Makes ``<root>/.cache/emoji-google-64.npz`` as :func:`latentlab.data.mnist.setup` makes
    the digits. Returns the exit status; says what failed in one line on stderr."""
    root = Path(root)
    out, cache = root / CACHE_FILE, root / CACHE_DIR
    if out.is_file():
        return 0
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / TARBALL
    if not tarball.is_file():
        npm = shutil.which("npm")
        if npm is None:
            print("latentlab: no npm (it fetches the bundled emoji); install Node.js "
                  "(apt-get install npm)", file=sys.stderr)
            return 1
        print(f"latentlab: fetching the emoji ({NPM_PACKAGE} from the npm registry, 74 MB)",
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
    emoji = convert_npm_tarball(tarball, out)
    print(f"latentlab: wrote {len(emoji.labels)} emoji to {out}", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "setup":
        return setup(argv[1])
    if len(argv) != 2:
        print("usage: python -m latentlab.data.emoji setup PROJECT_ROOT\n"
              "       python -m latentlab.data.emoji TARBALL OUT.npz", file=sys.stderr)
        return 2
    emoji = convert_npm_tarball(argv[0], argv[1])
    print(f"wrote {len(emoji.labels)} emoji to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
