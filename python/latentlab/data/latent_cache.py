"""The VAE's latents of a training set, encoded once into an Arrow IPC file and shared.

A cache file ``<home>/.cache/latents/<name>.arrow`` is named by the VAE weights' SHA-256, the
data's fingerprint and the preprocessing (the data section's keys that change the pixels), so
every trial and sweep that trains the same VAE on the same data reads the same file, and a
changed image (a new fingerprint) or VAE makes another. It holds, per training example in the
order of the training indices, the posterior mean and log-variance, each a column of
``fixed_size_list<float32>[h·w·c]`` (the shape in the schema's metadata, ``latent_shape``), and
the label (int32). It is written into a hidden temporary file and renamed into place, so a
reader never sees half of one; it is read memory-mapped (``pyarrow.memory_map``), one batch
at a time, so a training's memory does not grow with the data set.

While a training reads a file it holds a claim (``<name>.arrow.claim-<pid>``); a file with a
claim of a live process is in use and is not removed.
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa

CACHE_DIR = Path(".cache") / "latents"
SUFFIX = ".arrow"
# Keys of the data section that change the images (or which of them are trained on).
PREPROCESSING_KEYS = ("dataset", "holdout", "classes", "limit", "resolution", "channels",
                      "resize", "background", "labels", "columns", "on_error")


def preprocessing(data_section: dict) -> dict:
    return {k: data_section.get(k) for k in PREPROCESSING_KEYS if data_section.get(k) is not None}


def name(vae_hash: str, fingerprint: str, data_section: dict) -> str:
    prep = hashlib.sha256(json.dumps(preprocessing(data_section), sort_keys=True)
                          .encode()).hexdigest()
    return f"vae-{vae_hash[:16]}-data-{fingerprint[:16]}-prep-{prep[:12]}{SUFFIX}"


def folder(home: str | os.PathLike) -> Path:
    return Path(home) / CACHE_DIR


def _column(values: np.ndarray) -> pa.Array:
    flat = np.ascontiguousarray(values, np.float32).reshape(len(values), -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])


def write(path: str | os.PathLike, batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
          metadata: dict) -> None:
    """Writes (means [b, h, w, c], log_vars, labels [b]) batches as one Arrow IPC file,
    atomically; ``metadata`` (JSON-able) goes into the schema beside ``latent_shape``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    writer = None
    try:
        with pa.OSFile(str(tmp), "wb") as sink:
            for means, log_vars, labels in batches:
                if writer is None:
                    schema = pa.schema(
                        [("mean", pa.list_(pa.float32(), int(np.prod(means.shape[1:])))),
                         ("log_var", pa.list_(pa.float32(), int(np.prod(means.shape[1:])))),
                         ("label", pa.int32())],
                        metadata={"latent_shape": json.dumps(list(means.shape[1:])),
                                  "latentlab": json.dumps(metadata, sort_keys=True)})
                    writer = pa.ipc.new_file(sink, schema)
                writer.write_batch(pa.record_batch(
                    [_column(means), _column(log_vars), pa.array(np.asarray(labels, np.int32))],
                    schema=schema))
            if writer is None:
                raise ValueError(f"{path}: no examples to cache")
            writer.close()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class Latents:
    """A cache file, memory-mapped: ``take(positions)`` reads one batch."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._table = pa.ipc.open_file(pa.memory_map(str(self.path), "r")).read_all()
        meta = self._table.schema.metadata
        self.latent_shape = tuple(json.loads(meta[b"latent_shape"]))
        self.metadata = json.loads(meta[b"latentlab"])
        # Each record batch's values as a NumPy view of the mapping (no copy): a batch gathers
        # its rows from them. Arrow's own take on the chunked column concatenates every chunk
        # first: at 100,000 latents of 16×16×4 that was 89 ms and 400 MB per batch.
        self._views = {column: [self._view(chunk) for chunk in self._table.column(column).chunks]
                       for column in ("mean", "log_var")}
        sizes = [len(chunk) for chunk in self._table.column("mean").chunks]
        self._starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._labels = self._table.column("label").to_numpy().astype(np.int32)

    def _view(self, chunk: pa.FixedSizeListArray) -> np.ndarray:
        values = chunk.flatten().to_numpy(zero_copy_only=True)  # the chunk's rows, offset kept
        return values.reshape((len(chunk),) + self.latent_shape)

    def __len__(self) -> int:
        return self._table.num_rows

    def _values(self, column, positions) -> np.ndarray:
        positions = np.asarray(positions, np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= len(self)):
            raise IndexError(f"{self.path}: rows {positions.min()}..{positions.max()} of "
                             f"{len(self)}")
        chunk = np.searchsorted(self._starts, positions, side="right") - 1
        rows = positions - self._starts[chunk]
        out = np.empty((len(positions),) + self.latent_shape, np.float32)
        views = self._views[column]
        for c in np.unique(chunk):
            picked = chunk == c
            out[picked] = views[c][rows[picked]]
        return out

    def take(self, positions: np.ndarray, step: int = 0, rows: slice = slice(None)) -> tuple:
        """(means, log_vars, labels) of ``positions`` (those of ``rows``): float32
        [b, h, w, c] ×2, int32 [b]."""
        positions = np.asarray(positions)[rows]
        return (self._values("mean", positions), self._values("log_var", positions),
                self._labels[np.asarray(positions, np.int64)])

    def mean_chunks(self, rows: int = 500) -> Iterator[np.ndarray]:
        """The posterior means, ``rows`` at a time, in order: what the latent scale reads, so a
        cache larger than memory is never held whole."""
        for start in range(0, len(self), rows):
            yield self._values("mean", np.arange(start, min(start + rows, len(self))))


class Claim:
    """A claim on a cache file while a training reads it (a context manager)."""

    def __init__(self, path: str | os.PathLike):
        self.file = Path(f"{path}.claim-{os.getpid()}")

    def __enter__(self):
        self.file.write_text(str(os.getpid()))
        return self

    def __exit__(self, *exc):
        self.file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def in_use(path: str | os.PathLike) -> bool:
    path = Path(path)
    for claim in path.parent.glob(path.name + ".claim-*"):
        try:
            pid = int(claim.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if _alive(pid):
            return True
        claim.unlink(missing_ok=True)  # left by a process that died
    return False


def entries(home: str | os.PathLike) -> list[dict]:
    """Every cache file under ``home``: {name, path, bytes, vae, fingerprint, examples,
    in_use}, by name."""
    found = []
    where = folder(home)
    for path in sorted(where.glob("*" + SUFFIX)) if where.is_dir() else []:
        try:
            meta = json.loads(pa.ipc.open_file(pa.memory_map(str(path), "r"))
                              .schema.metadata[b"latentlab"])
        except (pa.ArrowInvalid, KeyError, OSError, ValueError):
            meta = {}
        found.append({"name": path.name, "path": str(path), "bytes": path.stat().st_size,
                      "vae": meta.get("vae"), "fingerprint": meta.get("fingerprint"),
                      "examples": meta.get("examples"), "in_use": in_use(path)})
    return found


def remove(home: str | os.PathLike, entry_name: str) -> dict:
    """Removes one cache file by name; returns its entry.

    Raises:
      ValueError: one line: no such entry, or it is in use.
    """
    match = [e for e in entries(home) if e["name"] == entry_name]
    if not match:
        raise ValueError(f"latent cache: no entry {entry_name!r} in {folder(home)}; "
                         "list them to see the names")
    if match[0]["in_use"]:
        raise ValueError(f"latent cache: {entry_name} is in use by a running training; "
                         "remove it when the training ends")
    Path(match[0]["path"]).unlink()
    return match[0]
