"""Builds a Flax module from a config section, using the module's own fields as the schema.

Java keeps no copy of a model's hyperparameters: it hands the section to :func:`from_section`,
which rejects unknown keys and wrong types with a message naming the key path.
"""

import dataclasses
import typing
from typing import Any, Mapping

import flax.linen as nn

# Fields every linen Module has that are not hyperparameters.
_MODULE_INTERNALS = frozenset({"parent", "name"})


def hyperparameters(module_cls: type[nn.Module]) -> dict[str, dataclasses.Field]:
    """The hyperparameter fields of a module class, by name."""
    return {
        f.name: f
        for f in dataclasses.fields(module_cls)
        if f.name not in _MODULE_INTERNALS and f.init
    }


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    raise KeyError(field.name)


def _coerce(value: Any, annotation: Any, path: str) -> Any:
    """Checks one value against a field annotation (int, float, bool, str, tuple[int, ...])."""
    origin = typing.get_origin(annotation)
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{path}: expected a list of {item_type.__name__}, got {value!r}")
        return tuple(_coerce(v, item_type, f"{path}[{i}]") for i, v in enumerate(value))
    if annotation is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{path}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{path}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ValueError(f"{path}: expected a string, got {value!r}")
        return value
    raise TypeError(f"{path}: unsupported field annotation {annotation!r}")


def resolve_section(module_cls: type[nn.Module], section: Mapping[str, Any] | None,
                    path: str) -> dict[str, Any]:
    """Validates a config section against the module's fields and fills in the defaults.

    Raises:
      ValueError: naming ``path.key`` for an unknown key, a wrong type or a missing value.
    """
    section = dict(section or {})
    fields = hyperparameters(module_cls)
    hints = typing.get_type_hints(module_cls)
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise ValueError(
            f"{path}.{unknown[0]}: unknown key; allowed: {', '.join(sorted(fields))}")
    resolved = {}
    for name, field in fields.items():
        key_path = f"{path}.{name}"
        if name in section:
            resolved[name] = _coerce(section[name], hints[name], key_path)
        else:
            try:
                resolved[name] = _default(field)
            except KeyError:
                raise ValueError(f"{key_path}: required key is missing") from None
        check = getattr(module_cls, "check_" + name, None)
        if check is not None:
            check(resolved[name], key_path)
    return resolved


def from_section(module_cls: type[nn.Module], section: Mapping[str, Any] | None,
                 path: str) -> nn.Module:
    """Builds ``module_cls`` from a config section after :func:`resolve_section`."""
    return module_cls(**resolve_section(module_cls, section, path))
