"""Shared fixtures. Tests run with the project's .venv (./latentlab test sets it up).

Tests marked ``cpu_only`` check what holds on JAX's CPU backend only (zero-copy buffer
addresses, the backend's name, bitwise results); they skip on other backends.
"""

from pathlib import Path

import jax
import pytest

from latentlab import compilation_cache
from latentlab.data import mnist

PROJECT = Path(__file__).resolve().parents[2]
# The project's on-disk compilation cache, as Java's bridge uses it: results do not depend on it.
compilation_cache.enable(PROJECT)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cpu_only: checks what only JAX's CPU backend guarantees (zero-copy buffer "
                   "addresses, the backend's name); skipped on other backends")


def pytest_collection_modifyitems(config, items):
    backend = jax.default_backend()
    if backend == "cpu":
        return
    skip = pytest.mark.skip(reason=f"needs JAX's CPU backend; this one is {backend}")
    for item in items:
        if "cpu_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def digits_file() -> Path:
    path = PROJECT / mnist.CACHE_FILE
    assert path.is_file(), f"{path} is missing; run ./latentlab setup"
    return path
