"""``data.dataset: image-folder``: a folder of PNG, JPEG, WebP and BMP files.

The class of an image is its first-level subfolder (sorted names are the classes, in
order), or there are no labels (``data.labels: none``). Captions come from an optional
``metadata.jsonl`` at the top of the folder, one JSON object a line with ``file_name``
(relative to the folder) and ``text``: the convention of Hugging Face's ``imagefolder``.

Files are listed once, sorted, and each is checked at open (header, pixel limit, a cheap
decode; see :func:`latentlab.data.preprocess.verify`), so that bad input is refused before
training; pixels are decoded when an example is read.
"""

import json
import os
from pathlib import Path

import numpy as np

from latentlab.data import files as files_lib
from latentlab.data import preprocess
from latentlab.data.source import NO_LABEL

DATASET = "image-folder"
SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
LABELS = ("folders", "none")
METADATA = "metadata.jsonl"


class ImageFolderSource(files_lib.LazySource):
    """The images under a folder, in sorted path order."""

    def __init__(self, root: Path, prep: preprocess.Preprocessing, labels: str = "folders",
                 on_error: str = "fail", fingerprint_mode: str = "stat"):
        root = Path(root)
        if not root.exists():
            raise ValueError(f"data.path: {root} is not there; give the folder of the images "
                             "(absolute, or relative to the project)")
        if not root.is_dir():
            raise ValueError(f"data.path: {root} is not a folder; {DATASET} reads a folder of "
                             "images")
        images = sorted((p for p in root.rglob("*")
                         if p.is_file() and p.suffix.lower() in SUFFIXES),
                        key=lambda p: p.relative_to(root).parts)
        if not images:
            raise ValueError(f"data.path: {root} holds no images "
                             f"({', '.join(SUFFIXES)}); put them there or fix the path")
        classes: list[str] = []
        if labels == "folders":
            loose = [p for p in images if p.parent == root]
            if loose:
                raise ValueError(f"{loose[0]}: an image outside the class folders; move each "
                                 f"image into the subfolder of its class, or set data.labels: "
                                 "none")
            classes = sorted(p.name for p in root.iterdir() if p.is_dir()
                             and not p.name.startswith("."))
            counts = {name: 0 for name in classes}
            for p in images:
                first = p.relative_to(root).parts[0]
                if first in counts:
                    counts[first] += 1
            empty = [name for name, count in counts.items() if count == 0]
            if empty:
                raise ValueError(f"{root / empty[0]}: a class folder without images "
                                 f"({', '.join(SUFFIXES)}); add images or remove the folder")
            images = [p for p in images if p.relative_to(root).parts[0] in counts]
        captions_by_name = _read_metadata(root)
        skipped: list[str] = []
        kept = [p for p in images
                if files_lib.check_or_skip(lambda p=p: preprocess.verify(p, str(p)), str(p),
                                           on_error, skipped)]
        if not kept:
            raise ValueError(f"data.path: every image under {root} failed to decode (first: "
                             f"{skipped[0]}); fix the images")
        index = {name: i for i, name in enumerate(classes)}
        label_values = np.array([index[p.relative_to(root).parts[0]] if classes else NO_LABEL
                                 for p in kept], np.int32)
        captions = [captions_by_name.get(p.relative_to(root).as_posix()) for p in kept]
        fingerprinted = images + ([root / METADATA] if (root / METADATA).is_file() else [])
        super().__init__(prep, classes, label_values, captions,
                         files_lib.fingerprint(fingerprinted, root, fingerprint_mode),
                         skipped, str(root))
        self.root = root
        self.paths = kept  # the image file of example i

    def _image_data(self, index: int) -> tuple[Path, str]:
        return self.paths[index], str(self.paths[index])


def _read_metadata(root: Path) -> dict[str, str]:
    """file_name → text from ``root/metadata.jsonl``; empty without one."""
    path = root / METADATA
    if not path.is_file():
        return {}
    captions = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number}: not JSON ({e.msg}); one object a line, "
                                 "with file_name and text") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
                raise ValueError(f"{path}:{number}: no file_name; each line needs file_name "
                                 "and text")
            text = entry.get("text")
            if text is not None and not isinstance(text, str):
                raise ValueError(f"{path}:{number}: text must be a string, got {text!r}")
            captions[Path(os.path.normpath(entry["file_name"])).as_posix()] = text
    return captions


def open_folder(section: dict, home, prep: preprocess.Preprocessing) -> ImageFolderSource:
    """The image folder of a ``data`` section."""
    return ImageFolderSource(Path(files_lib.data_path(section, home, DATASET)), prep,
                             files_lib.choice(section, "labels", LABELS),
                             files_lib.choice(section, "on_error", files_lib.ON_ERROR),
                             files_lib.choice(section, "fingerprint", files_lib.FINGERPRINTS))
