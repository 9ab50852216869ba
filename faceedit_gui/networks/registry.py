"""Stable network type names <-> network classes, so a bundle rebuilds every network from JSON.

`model.json` names each network by a type from `NETWORK_TYPES` plus its config dict; the
class behind a name is imported only when a network of that type is built, so listing a
bundle never imports every network module.

Protocol of a registered class (every network module follows it):
    config_class          class attribute: a frozen dataclass with the paper's defaults
    self.config           the instance's config, an instance of `config_class`
    from_config(config)   classmethod building the network from that config
    network_type          optional attribute: the type name, needed only when several names
                          share one class (e4e and pSp both use `OfficialEncoder`)

Adding a network type is one line in `NETWORK_TYPES`, or `register_network_type` at runtime.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from typing import Any, Mapping

from torch import nn

from faceedit_gui.config import config_from_dict

# type name -> "module:Class" (imported lazily) or the class itself
NETWORK_TYPES: dict[str, str | type[nn.Module]] = {
    "stylegan2_generator": "faceedit_gui.networks.stylegan2:Generator",
    "stylegan2_discriminator": "faceedit_gui.networks.discriminator:Discriminator",
    "e4e_encoder": "faceedit_gui.networks.encoders:OfficialEncoder",
    "psp_encoder": "faceedit_gui.networks.encoders:OfficialEncoder",
    "small_encoder": "faceedit_gui.networks.encoders:SmallEncoder",
    "arcface_ir_se50": "faceedit_gui.networks.arcface:Backbone",
    "editor": "faceedit_gui.networks.editor:Editor",
    "attribute_classifier": "faceedit_gui.networks.classifier:AttributeClassifier",
    "identity": "faceedit_gui.networks.identity:IdentityNet",
}


class UnknownNetworkTypeError(LookupError):
    """A type name that `NETWORK_TYPES` does not hold, or a class no name maps to."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


def known_network_types() -> list[str]:
    """Every registered type name, sorted."""
    return sorted(NETWORK_TYPES)


def register_network_type(name: str, target: str | type[nn.Module], *, replace: bool = False) -> None:
    """Add `name -> target` ("module:Class" or a class). Re-registering the same target is a no-op."""
    if isinstance(target, str) and ":" not in target:
        raise ValueError(f"network type {name!r}: target {target!r} must read 'module:Class'")
    current = NETWORK_TYPES.get(name)
    if current is not None and current != target and not replace:
        raise ValueError(f"network type {name!r} is already registered as {_target_name(current)}")
    NETWORK_TYPES[name] = target


def network_class(type_name: str) -> type[nn.Module]:
    """The class registered as `type_name`, importing its module if needed."""
    if type_name not in NETWORK_TYPES:
        raise UnknownNetworkTypeError(
            f"unknown network type {type_name!r} (this build knows: {', '.join(known_network_types())})"
        )
    target = NETWORK_TYPES[type_name]
    if not isinstance(target, str):
        return target
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"network type {type_name!r}: cannot import {module_name} ({exc})") from exc
    try:
        cls = getattr(module, class_name)
    except AttributeError:
        raise ImportError(f"network type {type_name!r}: {module_name} has no class {class_name}") from None
    for attr in ("config_class", "from_config"):
        if not hasattr(cls, attr):
            raise TypeError(f"network type {type_name!r}: {target} lacks `{attr}` (see the registry protocol)")
    return cls


def build_network(type_name: str, config: Mapping[str, Any] | Any) -> nn.Module:
    """Build a network of `type_name` from its config: a dict from `config_to_dict`, or the dataclass.

    Raises `UnknownNetworkTypeError` for an unregistered name and `ValueError` for a config
    the class's `config_class` does not accept.
    """
    cls = network_class(type_name)
    if isinstance(config, Mapping):
        try:
            config = config_from_dict(cls.config_class, dict(config))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"network type {type_name!r}: bad config: {exc}") from None
    elif not dataclasses.is_dataclass(config):
        raise TypeError(f"network type {type_name!r}: config must be a dict or a dataclass, got {type(config)}")
    return cls.from_config(config)


def network_type_of(module: nn.Module) -> str:
    """The registered type name of `module`'s class (its `network_type` attribute wins)."""
    declared = getattr(module, "network_type", None)
    if isinstance(declared, str):
        if declared not in NETWORK_TYPES:
            raise UnknownNetworkTypeError(f"{type(module).__name__}.network_type {declared!r} is not registered")
        return declared
    cls = type(module)
    path = f"{cls.__module__}:{cls.__qualname__}"
    names = [name for name, target in NETWORK_TYPES.items() if _is_target(cls, path, target)]
    if len(names) == 1:
        return names[0]
    if not names:
        raise UnknownNetworkTypeError(
            f"{path} is not a registered network type; add it to NETWORK_TYPES in {__name__}"
        )
    raise UnknownNetworkTypeError(
        f"{path} is registered under several names ({', '.join(sorted(names))}); "
        "set its `network_type` attribute or name the type explicitly"
    )


def _is_target(cls: type, path: str, target: str | type[nn.Module]) -> bool:
    """Whether `target` names `cls`, also through a re-export from an already imported module."""
    if target is cls or target == path:
        return True
    if isinstance(target, str):
        module_name, _, class_name = target.partition(":")
        module = sys.modules.get(module_name)
        return module is not None and getattr(module, class_name, None) is cls
    return False


def _target_name(target: str | type[nn.Module]) -> str:
    return target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"
