"""``data.dataset: parquet``: Parquet or Arrow IPC files with a column of encoded images.

``data.path`` is one file, a folder (every ``.parquet``, ``.arrow``, ``.ipc`` and
``.feather`` under it) or a glob. The image column holds encoded bytes (PNG, JPEG, ...) or
the ``{bytes, path}`` struct that Hugging Face ``datasets`` writes; an optional label column
holds integers (class names from the ``datasets`` ClassLabel metadata where there is one) or
strings (sorted names → indices), and an optional caption column strings. Their names come
from ``data.columns`` (``image``, ``label``, ``caption``; defaults image, label, text), so a
data set exported by ``datasets`` opens as it is.

Read with pyarrow, lazily: labels and captions are read at open, images one Parquet row group
or Arrow record batch at a time when an example is asked for (a few are kept), never the
whole data set.
"""

import functools
import json
import os
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

from latentlab.data import files as files_lib
from latentlab.data import preprocess
from latentlab.data.source import NO_LABEL

DATASET = "parquet"
SUFFIXES = (".parquet", ".arrow", ".ipc", ".feather")
DEFAULT_COLUMNS = {"image": "image", "label": "label", "caption": "text"}
_CACHED_CHUNKS = 4  # decoded-from-disk row groups kept per file (random access within a batch)


class _Table:
    """One file: its schema and random access to its row groups or record batches."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        try:
            if path.suffix.lower() == ".parquet":
                self._parquet = pq.ParquetFile(path, memory_map=True)
                self.schema = self._parquet.schema_arrow
                self.chunk_rows = [self._parquet.metadata.row_group(i).num_rows
                                   for i in range(self._parquet.num_row_groups)]
            else:
                self._parquet = None
                self._batches = _ipc_batches(path)
                self.schema = self._batches[0].schema if self._batches else _ipc_schema(path)
                self.chunk_rows = [b.num_rows for b in self._batches]
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
            raise ValueError(f"{path}: not a {path.suffix.lstrip('.') or 'Parquet'} file pyarrow "
                             f"can read ({' '.join(str(e).split())[:200]}); replace it or "
                             "remove it from data.path") from None
        self.starts = np.concatenate([[0], np.cumsum(self.chunk_rows)]).astype(np.int64)
        self.num_rows = int(self.starts[-1])
        self.chunk = functools.lru_cache(maxsize=_CACHED_CHUNKS)(self._read_chunk)

    def column(self, name: str) -> pa.ChunkedArray:
        """A whole column (labels and captions: small)."""
        if self._parquet is not None:
            return self._parquet.read(columns=[name]).column(0)
        return pa.chunked_array([b.column(name) for b in self._batches], self.schema.field(name).type)

    def iter_column(self, name: str):
        """A column one chunk at a time (images: read, checked, dropped)."""
        for i in range(len(self.chunk_rows)):
            yield self._read_chunk(i, name)

    def _read_chunk(self, index: int, name: str) -> pa.Array:
        if self._parquet is None:
            return self._batches[index].column(name)
        with self._lock:  # a ParquetFile reader is not safe to share between threads
            return self._parquet.read_row_group(index, columns=[name]).column(0).combine_chunks()

    def value(self, row: int, name: str):
        chunk = int(np.searchsorted(self.starts, row, side="right") - 1)
        return self.chunk(chunk, name)[row - int(self.starts[chunk])].as_py()


def _ipc_batches(path: Path) -> list[pa.RecordBatch]:
    """The record batches of an Arrow IPC file or stream, memory-mapped (read on touch)."""
    source = pa.memory_map(str(path))
    try:
        reader = pa.ipc.open_file(source)
        return [reader.get_batch(i) for i in range(reader.num_record_batches)]
    except pa.ArrowInvalid:
        # Hugging Face datasets writes the stream format (no footer): read it through once.
        source.seek(0)
        return list(pa.ipc.open_stream(source))


def _ipc_schema(path: Path) -> pa.Schema:
    source = pa.memory_map(str(path))
    try:
        return pa.ipc.open_file(source).schema
    except pa.ArrowInvalid:
        source.seek(0)
        return pa.ipc.open_stream(source).schema


def _describe(schema: pa.Schema) -> str:
    return ", ".join(f"{field.name} ({field.type})" for field in schema)


def _is_binary(kind: pa.DataType) -> bool:
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or \
        pa.types.is_binary_view(kind) or pa.types.is_fixed_size_binary(kind)


def _image_kind(table: _Table, name: str) -> str:
    """``bytes`` or ``struct`` (Hugging Face's {bytes, path}); refuses anything else."""
    if name not in table.schema.names:
        raise ValueError(f"{table.path}: no image column {name!r}; its columns are "
                         f"{_describe(table.schema)}; set data.columns.image")
    kind = table.schema.field(name).type
    if _is_binary(kind):
        return "bytes"
    if pa.types.is_struct(kind) and any(kind.field(i).name == "bytes"
                                        for i in range(kind.num_fields)):
        return "struct"
    raise ValueError(f"{table.path}: column {name!r} is {kind}, not encoded images (binary, or "
                     f"a struct of bytes and path); its columns are {_describe(table.schema)}; "
                     "set data.columns.image")


def _class_label_names(table: _Table, name: str) -> list[str] | None:
    """The class names Hugging Face datasets stores for a ClassLabel column, if any."""
    metadata = table.schema.metadata or {}
    raw = metadata.get(b"huggingface")
    if raw is None:
        return None
    try:
        feature = json.loads(raw)["info"]["features"][name]
    except (ValueError, KeyError, TypeError):
        return None
    names = feature.get("names") if isinstance(feature, dict) else None
    return list(names) if isinstance(names, list) and names else None


class ParquetSource(files_lib.LazySource):
    """The rows of one or more Parquet / Arrow IPC files, in file order then row order."""

    def __init__(self, paths: list[Path], prep: preprocess.Preprocessing, columns: dict,
                 columns_given: set, on_error: str = "fail", fingerprint_mode: str = "stat",
                 location: str = ""):
        self.tables = [_Table(p) for p in paths]
        image = self._image_column = columns["image"]
        self._image_kinds = [_image_kind(t, image) for t in self.tables]
        label_name, caption_name = columns["label"], columns["caption"]
        has_label = self._optional_column(label_name, "label", "label" in columns_given)
        has_caption = self._optional_column(caption_name, "caption",
                                            "caption" in columns_given)
        classes, labels = self._labels(label_name) if has_label else \
            ([], np.full(sum(t.num_rows for t in self.tables), NO_LABEL, np.int32))
        captions = None
        if has_caption:
            captions = []
            for t in self.tables:
                kind = t.schema.field(caption_name).type
                if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                        or pa.types.is_string_view(kind)):
                    raise ValueError(f"{t.path}: caption column {caption_name!r} is {kind}, not "
                                     f"strings; its columns are {_describe(t.schema)}; set "
                                     "data.columns.caption")
                captions += t.column(caption_name).to_pylist()
        # Every row's image checked before training, one chunk in memory at a time.
        rows, skipped = [], []
        for number, t in enumerate(self.tables):
            row = 0
            for chunk in t.iter_column(image):
                for value in chunk.to_pylist():
                    name = f"{t.path} row {row}"
                    if files_lib.check_or_skip(
                            lambda: preprocess.verify(self._bytes(number, value, name), name),
                            name, on_error, skipped):
                        rows.append((number, row))
                    row += 1
        if not rows:
            raise ValueError(f"data.path: no readable images in {location}; fix the data")
        offsets = np.concatenate([[0], np.cumsum([t.num_rows for t in self.tables])])
        flat = np.array([offsets[n] + r for n, r in rows], np.int64)
        self._rows = rows
        super().__init__(prep, classes, labels[flat],
                         None if captions is None else [captions[i] for i in flat],
                         files_lib.fingerprint(paths, None, fingerprint_mode), skipped, location)
        self.paths = list(paths)

    def _optional_column(self, name: str, role: str, given: bool) -> bool:
        """Whether every file has column ``name``; a column named in data.columns must be
        there, a default one may be absent from all files (not from some)."""
        present = [name in t.schema.names for t in self.tables]
        if all(present):
            return True
        missing = self.tables[present.index(False)]
        if given or any(present):
            raise ValueError(f"{missing.path}: no {role} column {name!r}; its columns are "
                             f"{_describe(missing.schema)}; set data.columns.{role}")
        return False

    def _labels(self, name: str) -> tuple[list[str], np.ndarray]:
        kinds = {t.schema.field(name).type for t in self.tables}
        values = []
        for t in self.tables:
            column = t.column(name)
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            values.append(column)
        first = self.tables[0]
        if all(pa.types.is_integer(k) for k in kinds):
            labels = np.concatenate([v.to_numpy(zero_copy_only=False) for v in values])
            if any(v.null_count for v in values) or (labels < 0).any():
                raise ValueError(f"{first.path}: label column {name!r} has missing or negative "
                                 "values; give every row a class index ≥ 0")
            names = _class_label_names(first, name)
            count = int(labels.max(initial=-1)) + 1
            if names is None or len(names) < count:
                names = [str(i) for i in range(count)]
            return names, labels.astype(np.int32)
        if all(pa.types.is_string(k) or pa.types.is_large_string(k)
               or (pa.types.is_dictionary(k) and pa.types.is_string(k.value_type))
               for k in kinds):
            strings = [s for v in values for s in v.to_pylist()]
            if any(s is None for s in strings):
                raise ValueError(f"{first.path}: label column {name!r} has missing values; give "
                                 "every row a class")
            names = sorted(set(strings))
            index = {s: i for i, s in enumerate(names)}
            return names, np.array([index[s] for s in strings], np.int32)
        bad = next(t for t in self.tables
                   if not pa.types.is_integer(t.schema.field(name).type))
        raise ValueError(f"{bad.path}: label column {name!r} is {bad.schema.field(name).type}, "
                         f"not integers or strings; its columns are {_describe(bad.schema)}; "
                         "set data.columns.label")

    def _bytes(self, table: int, value, name: str) -> bytes | str:
        if self._image_kinds[table] == "bytes":
            if value is None:
                raise ValueError(f"{name}: no image (null); fill it or set data.on_error: skip")
            return value
        if value is None or (value.get("bytes") is None and not value.get("path")):
            raise ValueError(f"{name}: no image (null bytes and path); fill it or set "
                             "data.on_error: skip")
        if value.get("bytes") is not None:
            return value["bytes"]
        path = value["path"]
        return path if os.path.isabs(path) else str(self.tables[table].path.parent / path)

    def _image_data(self, index: int) -> tuple[bytes | str, str]:
        table, row = self._rows[index]
        name = f"{self.tables[table].path} row {row}"
        value = self.tables[table].value(row, self._image_column)
        return self._bytes(table, value, name), name


def open_parquet(section: dict, home, prep: preprocess.Preprocessing) -> ParquetSource:
    """The Parquet / Arrow files of a ``data`` section."""
    given = section.get("columns") or {}
    if not isinstance(given, dict) or set(given) - set(DEFAULT_COLUMNS) or \
            any(not isinstance(v, str) or not v for v in given.values()):
        raise ValueError(f"data.columns: must map some of {', '.join(DEFAULT_COLUMNS)} to column "
                         f"names, got {given!r}")
    columns = {**DEFAULT_COLUMNS, **given}
    pattern = files_lib.data_path(section, home, DATASET)
    paths = files_lib.find_files(pattern, SUFFIXES, DATASET)
    source = ParquetSource(paths, prep, columns, set(given),
                           files_lib.choice(section, "on_error", files_lib.ON_ERROR),
                           files_lib.choice(section, "fingerprint", files_lib.FINGERPRINTS),
                           pattern)
    return source
