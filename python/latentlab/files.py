"""Writing files so that a reader never sees half of one."""

import os
from pathlib import Path


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to a hidden temporary file beside ``path``, then renames it into place."""
    path = Path(path)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
