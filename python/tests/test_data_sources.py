"""The data sources on small data each test writes: the same images as a folder, as Parquet
and as tar shards give the same examples; each bad input is refused in one line naming the
file or key (or skipped and counted); preprocessing converts every mode; fingerprints move
when the data does; the bundled emoji and digits."""

import io
import json
import os
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from latentlab import bridge, experiment
from latentlab.data import emoji, mnist, preprocess, sources
from latentlab.data import source as source_lib
from latentlab.data.source import NO_LABEL

from conftest import PROJECT

CLASSES = ("cat", "dog")
SIZE = 8


def _images(count=6):
    """``count`` small RGB images, labels and captions, different from each other."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(count)]
    labels = [i % 2 for i in range(count)]
    captions = [f"picture {i}" for i in range(count)]
    return images, labels, captions


def _png(array, mode=None) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array, mode).save(out, format="PNG")
    return out.getvalue()


def _write_folder(root: Path, images, labels, captions, fmt="png") -> Path:
    lines = []
    for i, (image, label, caption) in enumerate(zip(images, labels, captions)):
        name = f"{CLASSES[label]}/{i:03d}.{fmt}"
        (root / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / name)
        lines.append(json.dumps({"file_name": name, "text": caption}))
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _write_shards(folder: Path, images, labels, captions, per_shard=3) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for shard in range(0, len(images), per_shard):
        with tarfile.open(folder / f"train-{shard // per_shard:06d}.tar", "w") as archive:
            for i in range(shard, min(shard + per_shard, len(images))):
                _add(archive, f"{i:03d}.png", _png(images[i]))
                _add(archive, f"{i:03d}.cls", str(labels[i]).encode())
                _add(archive, f"{i:03d}.txt", captions[i].encode())
    return str(folder / "train-{000000..000001}.tar")


def _section(dataset, path, **extra):
    return {"dataset": dataset, "path": str(path), "resolution": SIZE, "channels": 3, **extra}


def _examples(source):
    return [source[i] for i in range(len(source))]


def _one_line_error(section, home, match):
    with pytest.raises(ValueError, match=match) as failure:
        sources.open_source(section, home)
    assert "\n" not in str(failure.value)
    return str(failure.value)


def test_folder_parquet_and_shards_give_the_same_examples(tmp_path):
    images, labels, captions = _images()
    folder = _write_folder(tmp_path / "folder", images, labels, captions)
    table = pa.table({"image": [{"bytes": _png(x), "path": None} for x in images],
                      "label": [CLASSES[y] for y in labels], "text": captions})
    pq.write_table(table, tmp_path / "data.parquet", row_group_size=4)
    shards = _write_shards(tmp_path / "shards", images, labels, captions)
    opened = {name: sources.open_source(section, tmp_path) for name, section in [
        ("folder", _section("image-folder", folder)),
        ("parquet", _section("parquet", tmp_path / "data.parquet")),
        ("webdataset", _section("webdataset", shards))]}
    order = sorted(range(len(images)), key=lambda i: (labels[i], i))  # the folder's order
    for name, source in opened.items():
        examples = _examples(source)
        expected = order if name == "folder" else range(len(images))
        assert len(source) == len(images) and source.shape == (SIZE, SIZE, 3), name
        assert [e.caption for e in examples] == [captions[i] for i in expected], name
        assert all(np.array_equal(e.image, images[i]) for e, i in zip(examples, expected)), name
        assert dict(source.counts) == {"cat": 3, "dog": 3} or name == "webdataset"
        assert source.skipped == []
    # The folder's and the Parquet's class names agree; the shards' .cls files are indices.
    assert opened["folder"].classes == opened["parquet"].classes == CLASSES
    assert opened["webdataset"].classes == ("0", "1")
    assert [e.label for e in _examples(opened["parquet"])] == labels
    assert [e.label for e in _examples(opened["webdataset"])] == labels


def test_jpeg_folder_and_unlabelled_folder(tmp_path):
    images, labels, captions = _images(4)
    folder = _write_folder(tmp_path / "jpeg", images, labels, captions, fmt="jpg")
    source = sources.open_source(_section("image-folder", folder), tmp_path)
    assert len(source) == 4 and source.classes == CLASSES
    assert source[0].image.shape == (SIZE, SIZE, 3) and source[0].caption == "picture 0"
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(images[0]).save(flat / "a.png")
    unlabelled = sources.open_source(_section("image-folder", flat, labels="none"), tmp_path)
    assert unlabelled.classes == () and unlabelled[0].label == NO_LABEL
    assert unlabelled.counts == {} and unlabelled[0].caption is None


def test_parquet_reads_arrow_ipc_and_hugging_face_class_labels(tmp_path):
    images, labels, captions = _images(4)
    metadata = {b"huggingface": json.dumps({"info": {"features": {
        "label": {"names": ["zero", "one"], "_type": "ClassLabel"}}}}).encode()}
    table = pa.table({"img": [_png(x) for x in images], "label": labels,
                      "caption": captions}).replace_schema_metadata(metadata)
    with pa.ipc.new_stream(tmp_path / "data-00000-of-00001.arrow", table.schema) as writer:
        writer.write_table(table, max_chunksize=3)  # the stream format datasets writes
    source = sources.open_source(_section(
        "parquet", tmp_path / "*.arrow", columns={"image": "img", "caption": "caption"}),
        tmp_path)
    assert source.classes == ("zero", "one") and [e.label for e in _examples(source)] == labels
    assert np.array_equal(source[3].image, images[3]) and source[3].caption == "picture 3"


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "RGB", "1"])
def test_every_mode_is_converted(tmp_path, mode):
    rgb = np.zeros((12, 16, 3), np.uint8)
    rgb[:, 8:] = 200
    image = Image.fromarray(rgb).convert(mode if mode != "I;16" else "L")
    if mode == "P":  # a palette of the image's own colours (the default web palette rounds)
        image = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
        assert image.mode == "I;16"
    prep = preprocess.Preprocessing(8, 8, 3, "stretch")
    out = preprocess.to_array(image, prep)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert out[0, 0].max() <= 1
    # The right half (grey 200) keeps its level: 16-bit values are scaled, not clipped.
    assert np.abs(out[0, -1].astype(int) - 200).max() <= 2 or mode == "1"
    grey = preprocess.to_array(image, preprocess.Preprocessing(8, 8, 1, "stretch"))
    assert grey.shape == (8, 8, 1)


def test_alpha_is_composited_on_the_background_and_resize_modes():
    rgba = np.zeros((4, 8, 4), np.uint8)  # fully transparent, 8 wide, 4 high
    image = Image.fromarray(rgba, "RGBA")
    white = preprocess.to_array(image, preprocess.from_section({"resolution": 4}))
    black = preprocess.to_array(image, preprocess.from_section(
        {"resolution": 4, "background": "#000000"}))
    assert (white == 255).all() and (black == 0).all()
    bar = np.zeros((4, 8, 3), np.uint8)
    bar[:, :2] = 255  # white at the left quarter
    image = Image.fromarray(bar)
    crop = preprocess.to_array(image, preprocess.Preprocessing(4, 4, 3, "crop"))
    stretch = preprocess.to_array(image, preprocess.Preprocessing(4, 4, 3, "stretch"))
    pad = preprocess.to_array(image, preprocess.Preprocessing(4, 4, 3, "pad", (0, 0, 255)))
    assert crop[:, 0].max() < 50            # the centre crop cut the white bar off
    assert stretch[:, 0].min() > 200        # squeezed, the bar stays
    assert (pad[0] == (0, 0, 255)).all()    # letterboxed in the background colour
    with pytest.raises(ValueError, match="^data.resize: unknown value 'zoom'"):
        preprocess.from_section({"resize": "zoom"})
    with pytest.raises(ValueError, match="^data.background: unknown colour 'blurple'"):
        preprocess.from_section({"background": "blurple"})


def _bomb_png(width=20_000, height=20_000) -> bytes:
    """A PNG header claiming 400 million pixels (Pillow refuses it from the header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


def _noise_png() -> bytes:
    return _png(np.random.default_rng(2).integers(0, 256, (32, 32, 3), np.uint8))


def _flip_middle_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


def _folder_with(tmp_path, name, data: bytes) -> Path:
    images, labels, captions = _images(2)
    root = _write_folder(tmp_path / "data", images, labels, captions)
    (root / "cat" / name).write_bytes(data)
    return root


@pytest.mark.parametrize("bad, match", [
    (lambda: _noise_png()[:len(_noise_png()) // 2], "cannot decode"),  # truncated
    (lambda: _flip_middle_byte(_noise_png()), "cannot decode"),            # corrupt
    (lambda: b"not an image at all", "not an image Pillow can read"),
    (lambda: _bomb_png(), "more pixels than Pillow's limit|Pillow's limit"),
])
def test_bad_images_are_refused_in_one_line_or_skipped(tmp_path, bad, match):
    root = _folder_with(tmp_path, "zzz.png", bad())
    bad_file = str(root / "cat" / "zzz.png")
    message = _one_line_error(_section("image-folder", root), tmp_path, match)
    assert message.startswith(bad_file)
    skipping = sources.open_source(_section("image-folder", root, on_error="skip"), tmp_path)
    assert skipping.skipped == [bad_file] and len(skipping) == 2


def test_truncated_jpeg_is_refused_before_training(tmp_path):
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)).save(
        out, format="JPEG")
    root = _folder_with(tmp_path, "zzz.jpg", out.getvalue()[:len(out.getvalue()) // 2])
    message = _one_line_error(_section("image-folder", root), tmp_path, "cannot decode")
    assert message.startswith(str(root / "cat" / "zzz.jpg"))


def test_folder_mistakes_name_the_path(tmp_path):
    _one_line_error(_section("image-folder", tmp_path / "nowhere"), tmp_path,
                    r"^data.path: .*nowhere is not there")
    (tmp_path / "empty").mkdir()
    _one_line_error(_section("image-folder", tmp_path / "empty"), tmp_path,
                    r"^data.path: .*empty holds no images")
    images, labels, captions = _images(2)
    root = _write_folder(tmp_path / "data", images, labels, captions)
    (root / "bird").mkdir()
    (root / "bird" / "notes.txt").write_text("no pictures here")
    _one_line_error(_section("image-folder", root), tmp_path,
                    r"^.*data/bird: a class folder without images")
    _one_line_error({"dataset": "image-folder"}, tmp_path, r"^data.path: image-folder needs")
    _one_line_error({"dataset": "parquet", "path": "missing/*.parquet"}, tmp_path,
                    r"^data.path: nothing matches .*missing/\*.parquet")
    _one_line_error({"dataset": "webdataset", "path": "shards/train-{0..1}.tar"}, tmp_path,
                    r"^data.path: .*shards/train-0.tar \(from .*\) is not there")


def test_parquet_column_mistakes_name_the_file_and_its_columns(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"picture": [_png(np.zeros((4, 4, 3), np.uint8))],
                             "label": [1.5]}), path)
    message = _one_line_error(_section("parquet", path), tmp_path,
                              r"no image column 'image'; its columns are picture \(binary\), "
                              r"label \(double\)")
    assert message.startswith(str(path))
    _one_line_error(_section("parquet", path, columns={"image": "label"}), tmp_path,
                    r"column 'label' is double, not encoded images")
    _one_line_error(_section("parquet", path, columns={"image": "picture"}), tmp_path,
                    r"label column 'label' is double, not integers or strings")
    _one_line_error(_section("parquet", path, columns={"image": "picture", "caption": "text"}),
                    tmp_path, r"no caption column 'text'; its columns are picture")


def test_shard_mistakes_name_the_shard(tmp_path):
    good = _png(np.zeros((4, 4, 3), np.uint8))
    for name, member, match in [("absolute", "/etc/000.png", "has an absolute path"),
                                ("dotdot", "../000.png", r"has '\.\.' in its path")]:
        shard = tmp_path / f"{name}.tar"
        with tarfile.open(shard, "w") as archive:
            _add(archive, "001.png", good)
            _add(archive, member, good)
        message = _one_line_error(_section("webdataset", shard), tmp_path,
                                  f"member '{member}' {match}; remove it")
        assert message.startswith(str(shard))
        skipping = sources.open_source(_section("webdataset", shard, on_error="skip"), tmp_path)
        assert len(skipping) == 1 and skipping.skipped == [str(shard)]
    shard = tmp_path / "truncated.tar"
    with tarfile.open(shard, "w") as archive:
        _add(archive, "000.png", good)
        _add(archive, "001.png", _png(np.zeros((64, 64, 3), np.uint8)) + b"\0" * 2000)
    shard.write_bytes(shard.read_bytes()[:1200])
    message = _one_line_error(_section("webdataset", shard), tmp_path, "truncated")
    assert message.startswith(str(shard))


def test_shard_index_is_cached_and_read_by_seeking(tmp_path):
    images, labels, captions = _images(4)
    pattern = _write_shards(tmp_path / "shards", images, labels, captions, per_shard=2)
    first = sources.open_source(_section("webdataset", pattern), tmp_path)
    index = Path(first.index_path)
    assert index.parent == tmp_path / ".cache" / "shard-index" and index.is_file()
    stamp = index.stat().st_mtime_ns
    second = sources.open_source(_section("webdataset", pattern), tmp_path)
    assert second.index_path == first.index_path and second.index_hash == first.index_hash
    assert index.stat().st_mtime_ns == stamp  # read, not built again
    assert np.array_equal(second[3].image, images[3])


@pytest.mark.parametrize("mode", ["stat", "content"])
def test_fingerprint_moves_when_a_file_is_added_removed_or_changed(tmp_path, mode):
    images, labels, captions = _images(4)
    root = _write_folder(tmp_path / "data", images, labels, captions)
    section = _section("image-folder", root, fingerprint=mode)

    def fingerprint():
        return sources.open_source(section, tmp_path).fingerprint

    seen = [fingerprint()]
    assert fingerprint() == seen[0]
    Image.fromarray(images[0]).save(root / "cat" / "new.png")
    seen.append(fingerprint())
    (root / "cat" / "new.png").unlink()
    assert fingerprint() == seen[0]  # back to the same files
    changed = images[1].copy()
    changed[0, 0] ^= 1  # same size, other content
    path = root / "dog" / "001.png"
    stat = path.stat()
    Image.fromarray(changed).save(path)
    assert path.stat().st_size == stat.st_size
    if mode == "content":  # the same time too: only the content tells
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    else:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    seen.append(fingerprint())
    (root / "dog" / "003.png").unlink()
    seen.append(fingerprint())
    assert len(set(seen)) == 4

def test_digits_source_matches_the_model_input(digits_file):
    source = sources.open_source({"dataset": "mnist-bundled", "holdout": 1000}, PROJECT)
    digits = mnist.load(digits_file)
    assert source.shape == (32, 32, 1) and len(source) == 10_000
    assert np.array_equal(source_lib.to_model_input(source.images[:50]),
                          mnist.to_model_input(digits.images[:50]))
    assert list(source.counts.values()) == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944,
                                            978]


def test_bridge_reports_and_draws_a_grid_per_class(tmp_path):
    images, labels, captions = _images(6)
    root = _write_folder(tmp_path / "data", images, labels, captions)
    config = json.dumps({"data": _section("image-folder", root, holdout=2), "train": {}})
    info = json.loads(bridge.call("data_source", config, str(tmp_path)))
    assert info["classes"] == list(CLASSES) and info["counts"] == {"cat": 3, "dog": 3}
    assert info["shape"] == [SIZE, SIZE, 3] and info["skipped"] == 0 and info["examples"] == 6
    summary = json.loads(bridge.call("data_summary", config, str(tmp_path),
                                     str(tmp_path / "out")))
    assert {k: v for k, v in summary.items() if k != "grids"} == info
    assert [Path(p).name for p in summary["grids"]] == ["grid-000-cat.png", "grid-001-dog.png"]
    with Image.open(summary["grids"][0]) as grid:
        assert grid.mode == "RGB" and grid.height == SIZE + 4


@pytest.mark.skipif(not (PROJECT / emoji.CACHE_FILE).is_file(),
                    reason="the emoji are not set up (./latentlab setup)")
def test_emoji_source():
    source = sources.open_source({"dataset": "emoji", "resolution": 32}, PROJECT)
    assert len(source) == 1906 and len(source.classes) == 9 and source.shape == (32, 32, 3)
    assert sum(source.counts.values()) == 1906 and source.counts["Flags"] == 270
    assert "Component" not in source.classes
    first = source[0]
    assert first.caption == "grinning face" and source.classes[first.label] == "Smileys & Emotion"
    assert (first.image[0, 0] == 255).all()  # transparent corner composited on white


def test_parquet_bad_row_is_named_or_skipped(tmp_path):
    path = tmp_path / "data.parquet"
    good = _png(np.zeros((4, 4, 3), np.uint8))
    pq.write_table(pa.table({"image": [good, b"\x89PNG broken", good]}), path)
    message = _one_line_error(_section("parquet", path), tmp_path, "not an image Pillow can read")
    assert message.startswith(f"{path} row 1: ")
    skipping = sources.open_source(_section("parquet", path, on_error="skip"), tmp_path)
    assert skipping.skipped == [f"{path} row 1"] and len(skipping) == 2
    assert skipping.classes == () and skipping[1].label == NO_LABEL


def test_emoji_tarball_with_another_checksum_is_refused(tmp_path):
    tarball = tmp_path / emoji.TARBALL
    tarball.write_bytes(b"not the package")
    with pytest.raises(ValueError, match=r"SHA-256 is [0-9a-f]{64}, expected fb5fd131"):
        emoji.convert_npm_tarball(tarball, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def test_data_classes_are_checked_against_the_data_once_it_is_open(tmp_path):
    # beyond the digits' ten, a class index is whatever the data has: checked when it is opened
    images, labels, captions = _images(6)
    root = _write_folder(tmp_path / "data", images, labels, captions)
    section = _section("image-folder", root)
    resolved = experiment.resolve({"data": {**section, "classes": [1]}})
    assert resolved["data"]["classes"] == [1]
    assert experiment.resolve({"data": {**section, "classes": [12]}})["data"]["classes"] == [12]
    info = experiment.data_source({"data": {**section, "classes": [1]}, "train": {}}, tmp_path)
    assert info.examples == 6  # the data's size; the classes choose the training examples
    with pytest.raises(ValueError) as failure:
        experiment.data_source({"data": {**section, "classes": [0, 2]}, "train": {}}, tmp_path)
    assert str(failure.value) == ("data.classes (the data's classes: 0 cat, 1 dog): must be a "
                                  "non-empty list of class indices in [0, 2), got [0, 2]")
    with pytest.raises(ValueError, match=r"^data.classes: \[0\] selects classes, but "
                                         r"image-folder data here has no labels; leave it out$"):
        experiment.data_source({"data": {**section, "labels": "none", "classes": [0]},
                                "train": {}}, tmp_path)
    # the digits keep their bound at resolve
    with pytest.raises(ValueError, match=r"must be a non-empty list of digits in \[0, 10\)"):
        experiment.resolve({"data": {"classes": [10]}})
    with pytest.raises(ValueError, match=r"must be a non-empty list of class indices >= 0"):
        experiment.resolve({"data": {**section, "classes": [-1]}})
