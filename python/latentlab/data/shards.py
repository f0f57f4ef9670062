"""``data.dataset: webdataset``: local tar shards in the WebDataset layout, never extracted.

``data.path`` names the shards: one file, a folder of ``.tar`` files, a glob, or a brace
pattern (``shards/train-{000000..000099}.tar``). The members of a shard are grouped into
samples by key (the member's path up to the first dot of its file name): ``KEY.png``,
``.jpg``, ``.jpeg`` or ``.webp`` is the image, ``KEY.cls`` the class index (a decimal
integer) and ``KEY.txt`` the caption; other members are ignored.

The shards are read once with :mod:`tarfile` (headers, labels, captions, and a cheap check of
every image) into an index of (shard, offset, size) per sample, written atomically as JSON under
``<home>/.cache/shard-index/``, named by the shards' fingerprint and reused while they are
unchanged; ``index_hash`` records which. Reading example i seeks to its bytes and decodes them.
A member with an absolute path or ``..``, a link, or a truncated shard is refused in one line
naming the shard (or skipped with ``data.on_error: skip``).
"""

import hashlib
import json
import os
import posixpath
import tarfile
from pathlib import Path

import numpy as np

from latentlab.data import files as files_lib
from latentlab.data import preprocess
from latentlab.data.source import NO_LABEL

DATASET = "webdataset"
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp")  # preferred in this order within a sample
LABEL_EXTENSION, CAPTION_EXTENSION = "cls", "txt"
INDEX_DIR = ".cache/shard-index"  # under the project root
INDEX_VERSION = 1


def split_key(name: str) -> tuple[str, str] | None:
    """``dir/000123.seg.png`` → (``dir/000123``, ``seg.png``); None for a name with no dot."""
    directory, base = posixpath.split(name)
    if "." not in base or base.startswith("."):
        return None
    stem, extension = base.split(".", 1)
    return posixpath.join(directory, stem), extension.lower()


def _unsafe(member: tarfile.TarInfo) -> str | None:
    name = member.name
    if name.startswith("/") or posixpath.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "has '..' in its path"
    if member.issym() or member.islnk():
        return "is a link"
    return None


def index_shard(path: Path) -> dict:
    """One shard's samples and problems, reading headers, labels and captions, and checking
    images (see :func:`latentlab.data.preprocess.verify`)."""
    samples: dict[str, dict] = {}
    problems: list[str] = []
    size = path.stat().st_size
    try:
        archive = tarfile.open(path, mode="r:")
    except tarfile.TarError as e:
        return {"samples": [], "problems": [f"{path}: not an uncompressed tar file ({e}); "
                                            "write shards as plain .tar"]}
    with archive:
        while True:
            try:
                member = archive.next()
            except (tarfile.TarError, EOFError, OSError) as e:
                problems.append(f"{path}: truncated or corrupt after {len(samples)} samples "
                                f"({e}); write the shard again")
                break
            if member is None:
                # tarfile reads a cut-off header as the end; a whole shard ends with two zero
                # blocks (every tar writer puts them there).
                archive.fileobj.seek(archive.offset)
                if archive.fileobj.read(2 * tarfile.BLOCKSIZE) != bytes(2 * tarfile.BLOCKSIZE):
                    problems.append(f"{path}: truncated after {len(samples)} samples (no "
                                    "end-of-archive blocks); write the shard again")
                break
            reason = _unsafe(member)
            if reason:
                problems.append(f"{path}: member {member.name!r} {reason}; remove it from the "
                                "shard")
                continue
            if not member.isfile():
                continue
            if member.offset_data + member.size > size:
                problems.append(f"{path}: truncated in member {member.name!r}; write the shard "
                                "again")
                break
            parts = split_key(member.name)
            if parts is None:
                continue
            key, extension = parts
            sample = samples.setdefault(key, {"key": key})
            if extension in IMAGE_EXTENSIONS:
                sample.setdefault("images", {})[extension] = (member.offset_data, member.size,
                                                              member.name)
            elif extension in (LABEL_EXTENSION, CAPTION_EXTENSION):
                data = archive.extractfile(member).read()
                sample[extension] = data.decode("utf-8", errors="replace").strip()
    result = []
    with open(path, "rb") as f:
        for key, sample in samples.items():
            entry = {"key": key, "label": None, "caption": sample.get(CAPTION_EXTENSION),
                     "error": None}
            images = sample.get("images", {})
            if not images:
                entry["error"] = (f"{path}: sample {key!r} has no image "
                                  f"(.{', .'.join(IMAGE_EXTENSIONS)}); add one or remove it")
            else:
                extension = next(e for e in IMAGE_EXTENSIONS if e in images)
                entry["offset"], entry["size"], entry["member"] = images[extension]
                f.seek(entry["offset"])
                try:
                    preprocess.verify(f.read(entry["size"]), f"{path}: {entry['member']}")
                except ValueError as e:
                    entry["error"] = str(e)
            if LABEL_EXTENSION in sample:
                text = sample[LABEL_EXTENSION]
                if text.isdigit():
                    entry["label"] = int(text)
                elif entry["error"] is None:
                    entry["error"] = (f"{path}: {key}.{LABEL_EXTENSION} is {text[:40]!r}, not a "
                                      "class index (a decimal integer ≥ 0)")
            result.append(entry)
    return {"samples": result, "problems": problems}


def build_index(shards: list[Path]) -> dict:
    """The index of ``shards``: samples in shard order, then member order."""
    samples, problems = [], []
    for number, shard in enumerate(shards):
        found = index_shard(shard)
        problems += found["problems"]
        for entry in found["samples"]:
            samples.append({"shard": number, **entry})
    return {"version": INDEX_VERSION, "shards": [str(s) for s in shards], "samples": samples,
            "problems": problems}


def cached_index(shards: list[Path], fingerprint: str, home) -> tuple[dict, Path, str]:
    """The shards' index from ``<home>/.cache/shard-index/<fingerprint>.json``, built and
    written (atomically) if it is not there; returns (index, its file, its SHA-256)."""
    path = Path(home) / INDEX_DIR / f"{fingerprint}.v{INDEX_VERSION}.json"
    if path.is_file():
        data = path.read_bytes()
        try:
            index = json.loads(data)
            if index.get("version") == INDEX_VERSION and \
                    index.get("shards") == [str(s) for s in shards]:
                return index, path, hashlib.sha256(data).hexdigest()
        except (ValueError, AttributeError):
            pass  # unreadable: build it again
    index = build_index(shards)
    data = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return index, path, hashlib.sha256(data).hexdigest()


class ShardSource(files_lib.LazySource):
    """The samples of tar shards, in shard order then member order."""

    def __init__(self, shards: list[Path], home, prep: preprocess.Preprocessing,
                 on_error: str = "fail", fingerprint_mode: str = "stat", location: str = ""):
        fingerprint = files_lib.fingerprint(shards, None, fingerprint_mode)
        # The index depends on the shards' bytes; with stat fingerprints it is named by them
        # too (a changed shard changes its size or modification time).
        index, self.index_path, self.index_hash = cached_index(shards, fingerprint, home)
        skipped = []
        for problem in index["problems"]:
            if on_error != "skip":
                raise ValueError(problem)
            skipped.append(problem.split(": ", 1)[0])
        kept = []
        for sample in index["samples"]:
            if sample["error"] is None:
                kept.append(sample)
            elif on_error != "skip":
                raise ValueError(sample["error"])
            else:
                skipped.append(f"{shards[sample['shard']]}: {sample['key']}")
        if not kept:
            raise ValueError(f"data.path: no readable samples in {location}; fix the shards")
        labelled = [s["label"] is not None for s in kept]
        if any(labelled) and not all(labelled):
            sample = kept[labelled.index(False)]
            raise ValueError(f"{shards[sample['shard']]}: sample {sample['key']!r} has no "
                             f".{LABEL_EXTENSION} label while others have; label every sample")
        labels = np.array([NO_LABEL if s["label"] is None else s["label"] for s in kept],
                          np.int32)
        classes = [str(i) for i in range(int(labels.max(initial=-1)) + 1)]
        super().__init__(prep, classes, labels, [s["caption"] for s in kept], fingerprint,
                         skipped, location)
        self.shards = list(shards)
        # Where each image is, as columns: a dict per sample held ~1.2 KB each (115 MiB at
        # 100,000 samples, bench/reports/data.md), arrays and the member names hold ~0.1 KB.
        self._shard = np.array([sample["shard"] for sample in kept], np.int32)
        self._offset = np.array([sample["offset"] for sample in kept], np.int64)
        self._size = np.array([sample["size"] for sample in kept], np.int64)
        self._member = [sample["member"] for sample in kept]

    def _image_data(self, index: int) -> tuple[bytes, str]:
        shard = self.shards[self._shard[index]]
        with open(shard, "rb") as f:
            f.seek(int(self._offset[index]))
            data = f.read(int(self._size[index]))
        return data, f"{shard}: {self._member[index]}"


def open_shards(section: dict, home, prep: preprocess.Preprocessing) -> ShardSource:
    """The tar shards of a ``data`` section."""
    pattern = files_lib.data_path(section, home, DATASET)
    shards = files_lib.find_files(pattern, (".tar",), DATASET)
    return ShardSource(shards, home, prep,
                       files_lib.choice(section, "on_error", files_lib.ON_ERROR),
                       files_lib.choice(section, "fingerprint", files_lib.FINGERPRINTS),
                       pattern)
