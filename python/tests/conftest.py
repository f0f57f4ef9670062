"""Shared fixtures. Tests run on CPU with the project's .venv (./latentlab test sets it up)."""

from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def digits_file() -> Path:
    path = PROJECT / ".cache" / "mnist-digits.npz"
    assert path.is_file(), f"{path} is missing; run ./latentlab setup"
    return path
