"""What the file-based sources share: finding their files (a path, a folder, a glob or a
brace pattern, anywhere readable), fingerprinting them, the ``on_error`` policy, and
:class:`LazySource`, which decodes one example at a time."""

import glob
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from latentlab.data import preprocess
from latentlab.data.source import Example, NO_LABEL

ON_ERROR = ("fail", "skip")
FINGERPRINTS = ("stat", "content")
_RANGE = re.compile(r"\{(\d+)\.\.(\d+)\}")
_LIST = re.compile(r"\{([^{}]*,[^{}]*)\}")


def choice(section: dict, key: str, allowed: tuple[str, ...]) -> str:
    """``data.<key>``, or its first allowed value when absent.

    Raises:
      ValueError: one line naming the key and what is allowed.
    """
    value = section.get(key)
    if value is None:
        return allowed[0]
    if value not in allowed:
        raise ValueError(f"data.{key}: unknown value {value!r}; allowed: {', '.join(allowed)}")
    return value


def expand_braces(pattern: str) -> list[str]:
    """``train-{000..002}.tar`` → train-000.tar, train-001.tar, train-002.tar (the width of the
    first bound is kept), and ``{a,b}`` → a, b; several braces multiply, in order."""
    match = _RANGE.search(pattern)
    if match:
        first, last = match.group(1), match.group(2)
        width = len(first) if first.startswith("0") or len(first) == len(last) else 0
        step = 1 if int(last) >= int(first) else -1
        head, tail = pattern[:match.start()], pattern[match.end():]
        return [expanded for n in range(int(first), int(last) + step, step)
                for expanded in expand_braces(f"{head}{n:0{width}d}{tail}")]
    match = _LIST.search(pattern)
    if match:
        head, tail = pattern[:match.start()], pattern[match.end():]
        return [expanded for item in match.group(1).split(",")
                for expanded in expand_braces(head + item + tail)]
    return [pattern]


def data_path(section: dict, home: str | os.PathLike, dataset: str) -> str:
    """``data.path`` as an absolute path or pattern (relative paths are inside ``home``).

    Raises:
      ValueError: no data.path.
    """
    path = section.get("path")
    if not isinstance(path, str) or not path:
        raise ValueError(f"data.path: {dataset} needs the path of its data (a folder, a file or "
                         "a pattern; absolute, or relative to the project)")
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.join(os.fspath(home), path)


def find_files(pattern: str, suffixes: tuple[str, ...], dataset: str) -> list[Path]:
    """The data files of ``pattern``: the file itself, every file under a folder whose name
    ends with one of ``suffixes`` (recursively), or the files a glob or brace pattern names;
    sorted, so that the examples' order does not depend on the file system.

    Raises:
      ValueError: one line naming data.path when nothing is there.
    """
    path = Path(pattern)
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob("*")
                       if p.is_file() and p.name.lower().endswith(suffixes))
        if not found:
            raise ValueError(f"data.path: {path} holds no {'/'.join(suffixes)} files for "
                             f"{dataset}; put them there or fix the path")
        return found
    names = expand_braces(pattern)
    if len(names) > 1 or glob.has_magic(pattern):
        found = []
        for name in names:
            matches = sorted(glob.glob(name, recursive=True)) if glob.has_magic(name) else [name]
            for match in matches:
                if not os.path.isfile(match):
                    raise ValueError(f"data.path: {match} (from {pattern}) is not there; fix "
                                     "the pattern or add the file")
                found.append(Path(match))
        if found:
            return found
        raise ValueError(f"data.path: nothing matches {pattern}; fix the pattern")
    raise ValueError(f"data.path: {pattern} is not there; give an existing file or folder")


def fingerprint(files: Sequence[Path], root: Path | None, mode: str) -> str:
    """SHA-256 hex of the data files: their names (relative to ``root``), sizes and
    modification times (``stat``, cheap), or their names and contents (``content``)."""
    digest = hashlib.sha256()
    for file in files:
        name = str(file.relative_to(root)) if root is not None else str(file.resolve())
        if mode == "content":
            entry = [name, sha256_of(file)]
        else:
            stat = file.stat()
            entry = [name, stat.st_size, stat.st_mtime_ns]
        digest.update(json.dumps(entry).encode() + b"\n")
    return digest.hexdigest()


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_or_skip(check: Callable[[], None], name: str, on_error: str,
                  skipped: list[str]) -> bool:
    """Runs ``check`` (which raises ValueError on bad input); under ``on_error: skip`` a
    failure appends ``name`` to ``skipped`` and returns False instead of raising."""
    try:
        check()
        return True
    except ValueError:
        if on_error != "skip":
            raise
        skipped.append(name)
        return False


class LazySource:
    """A data set read one example at a time: subclasses say where example i's encoded image
    is (:meth:`_image_data`); labels and captions are known from the start."""

    def __init__(self, prep: preprocess.Preprocessing, classes: Sequence[str],
                 labels: np.ndarray, captions: Sequence[str | None] | None, fingerprint: str,
                 skipped: Sequence[str], location: str):
        self.prep = prep
        self._classes = tuple(classes)
        self.labels = np.asarray(labels, np.int32)              # [N] class index or NO_LABEL
        self.captions = None if captions is None or not any(c is not None for c in captions) \
            else list(captions)
        self._fingerprint = fingerprint
        self.skipped = list(skipped)      # files or rows left out under data.on_error: skip
        self.location = location          # the data's path or pattern, as given, made absolute

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.prep.shape

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def counts(self) -> dict[str, int]:
        """Examples per class name (empty for unlabelled data)."""
        return class_counts(self.labels, self._classes)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Example:
        if not -len(self) <= index < len(self):
            raise IndexError(f"example {index} of {len(self)}")
        index = index % len(self)
        data, name = self._image_data(index)
        image = preprocess.load(data, name, self.prep)
        return Example(image, int(self.labels[index]),
                       None if self.captions is None else self.captions[index])

    def _image_data(self, index: int) -> tuple[bytes | Path, str]:
        """Example ``index``'s encoded image (bytes or a file) and the name to report."""
        raise NotImplementedError


def class_counts(labels: np.ndarray, classes: Sequence[str]) -> dict[str, int]:
    if not classes:
        return {}
    counts = np.bincount(np.asarray(labels)[np.asarray(labels) != NO_LABEL],
                         minlength=len(classes))
    return {name: int(count) for name, count in zip(classes, counts)}
