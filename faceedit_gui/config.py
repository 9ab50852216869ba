"""Frozen dataclass configs and their JSON form.

Every network is rebuilt from its config alone: `config_to_dict` gives plain JSON types,
`config_from_dict` restores the dataclass, converting JSON's string keys and lists back
to the annotated `dict[int, int]` / `tuple[...]` types.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A frozen dataclass -> a dict of JSON types (tuples become lists, dict keys strings)."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return {f.name: _to_json(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return config_to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild `cls` from `config_to_dict` output. Unknown keys are an error."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown config field(s) {unknown}")
    kwargs = {name: _from_json(hints[name], value) for name, value in data.items()}
    return cls(**kwargs)


def _from_json(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _from_json(non_none[0], value) if len(non_none) == 1 else value
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return config_from_dict(hint, value)
    if origin is tuple and isinstance(value, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(args[0], v) for v in value)
        if args:
            return tuple(_from_json(a, v) for a, v in zip(args, value))
        return tuple(value)
    if origin is dict and isinstance(value, dict):
        kt, vt = args if args else (Any, Any)
        return {_from_json(kt, k): _from_json(vt, v) for k, v in value.items()}
    if hint is int and isinstance(value, str):
        return int(value)
    if hint is float and isinstance(value, int):
        return float(value)
    return value
