"""Builds a Flax module from a config section, using the module's own fields as the schema.

Java keeps no copy of a model's hyperparameters: it hands the section to :func:`from_section`,
which rejects unknown keys, wrong types and out-of-range values with a message naming the key
path. Each field declares its range where it is declared (:func:`hyperparameter`); a module
checks what spans several fields in a ``check_section(values)`` class method that yields
(field, problem) pairs.
"""

import dataclasses
import typing
from typing import Any, Callable, Iterator, Mapping

import flax.linen as nn

# Fields every linen Module has that are not hyperparameters.
_MODULE_INTERNALS = frozenset({"parent", "name"})


Check = Callable[[Any], "str | None"]  # a value → what is wrong with it, or None


def hyperparameter(default: Any, check: Check) -> Any:
    """A module field with a default and its allowed range (``check``; see :data:`Check`)."""
    return dataclasses.field(default=default, metadata={"check": check})


def positive(value: int) -> str | None:
    return None if value > 0 else "must be a positive integer"


def non_negative(value: int) -> str | None:
    return None if value >= 0 else "must be an integer >= 0"


def positive_list(value: tuple[int, ...]) -> str | None:
    if not value:
        return "must not be empty"
    return None if all(v > 0 for v in value) else "must be a list of positive integers"


def positive_or_empty_list(value: tuple[int, ...]) -> str | None:
    return None if all(v > 0 for v in value) else "must be a list of positive integers"


def one_of(*allowed: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"
    return check


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
        problem = field.metadata.get("check", lambda _: None)(resolved[name])
        if problem:
            raise ValueError(f"{key_path}: {problem}, got {_show(section.get(name, resolved[name]))}")
    check_section: Callable[[dict], Iterator[tuple[str, str]]] | None = getattr(
        module_cls, "check_section", None)
    if check_section is not None:
        for name, problem in check_section(resolved):
            raise ValueError(f"{path}.{name}: {problem}")
    return resolved


def _show(value: Any) -> str:
    """A value as the config (YAML or JSON) writes it."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(
        value, bool) else str(value)


def from_section(module_cls: type[nn.Module], section: Mapping[str, Any] | None,
                 path: str) -> nn.Module:
    """Builds ``module_cls`` from a config section after :func:`resolve_section`."""
    return module_cls(**resolve_section(module_cls, section, path))
