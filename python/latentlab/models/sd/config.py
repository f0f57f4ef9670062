"""Component configs read from a model's ``config.json`` (diffusers / transformers layout).

Each config is a frozen dataclass: keys the JSON carries that LatentLab does not use are
ignored (checkpoints carry many), required ones are checked, and every problem is one line
naming the file and the key.
"""

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

_REQUIRED = object()


def required() -> Any:
    return dataclasses.field(default=_REQUIRED)


def _tupled(value):
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


def from_dict(cls, data: dict, where: str):
    """``cls`` from a JSON object: unknown keys ignored, required ones checked, lists → tuples.

    Raises:
      ValueError: ``where: key: what is wrong; fix``.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if field.name in data and data[field.name] is not None:
            value = _tupled(data[field.name])
            expected = hints[field.name]
            if expected in (int, float) and (isinstance(value, bool)
                                              or not isinstance(value, (int, float))):
                raise ValueError(f"{where}: {field.name}: expected a number, got {value!r}")
            if expected is int and isinstance(value, float):
                if value != int(value):
                    raise ValueError(f"{where}: {field.name}: expected an integer, got {value!r}")
                value = int(value)
            values[field.name] = float(value) if expected is float else value
        elif field.default is _REQUIRED:
            raise ValueError(f"{where}: {field.name}: required key is missing; "
                             "is this the config.json of the right component?")
    config = cls(**values)
    check = getattr(config, "check", None)
    if check is not None:
        for key, problem in check():
            raise ValueError(f"{where}: {key}: {problem}")
    return config


def read(cls, path: str | Path):
    """``cls`` from the JSON file at ``path`` (see :func:`from_dict`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: missing; a component folder holds config.json") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    return from_dict(cls, data, str(path))


def to_dict(config) -> dict:
    """A config as JSON-able data (tuples → lists)."""
    def plain(v):
        return [plain(x) for x in v] if isinstance(v, tuple) else v
    return {k: plain(v) for k, v in dataclasses.asdict(config).items()}
