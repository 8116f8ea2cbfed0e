"""Approaches by name: the built-in ones, those a suite registers, and those installed packages offer.

A suite (or any module) registers a class with ``@register_approach("tfidf-logreg")``; a package
offers one through the ``harness.approaches`` entry-point group (``name = "module:Class"``). Built-in
approaches are imported on first use, so declaring a suite does not import torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib import metadata

from ...errors import HarnessError

ENTRY_POINT_GROUP = "harness.approaches"
BUILTIN = {
    "most-frequent": "harness.engine.approaches.most_frequent:MostFrequent",
    "features-logreg": "harness.engine.approaches.features:FeatureLogReg",
    "finetune": "harness.engine.approaches.finetune:FineTune",
    "pretrained": "harness.engine.approaches.pretrained:Pretrained",
    "zero-shot": "harness.engine.approaches.zero_shot:ZeroShot",
    "zero-shot-nli": "harness.engine.approaches.zero_shot:ZeroShotNLI",
    "setfit": "harness.engine.approaches.setfit_approach:SetFit",
}
_registered: dict[str, type] = {}
_entry_points: dict[str, metadata.EntryPoint] | None = None


class ApproachError(HarnessError, ValueError):
    """An approach name, class or parameters that cannot be used."""


def _installed() -> dict[str, metadata.EntryPoint]:
    global _entry_points
    if _entry_points is None:
        _entry_points = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return _entry_points


def approach_names() -> list[str]:
    return sorted({*BUILTIN, *_registered, *_installed()})


def register_approach(name: str, *, expensive: bool | None = None, replace: bool = False):
    """Class decorator: make ``cls`` available to suites as ``approach_spec(name, ...)``.

    ``expensive`` (default: the class's own, True for :class:`~harness.engine.approaches.base.Approach`)
    approaches run only with ``--benchmark``. A name already taken by another class is an error
    unless ``replace=True``.
    """
    from .base import Approach

    def decorate(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, Approach)):
            raise ApproachError(f"approach {name!r}: {cls!r} must subclass harness.Approach")
        own = f"{cls.__module__}:{cls.__qualname__}"
        existing = _registered.get(name)
        taken = f"{existing.__module__}:{existing.__qualname__}" if existing else BUILTIN.get(name)
        if taken not in (None, own) and not replace:
            raise ApproachError(
                f"approach {name!r} is already registered by {taken}; pass replace=True to replace it"
            )
        cls.name = name
        if expensive is not None:
            cls.expensive = expensive
        _registered[name] = cls
        return cls

    return decorate


def _load(target: str, name: str) -> type:
    module, _, attribute = target.partition(":")
    importlib.import_module(module)  # built-in modules register themselves on import
    return _registered.get(name) or getattr(importlib.import_module(module), attribute)


def get_approach(name: str) -> type:
    """The class registered under ``name``; a one-line error lists the known names."""
    if name in _registered:
        return _registered[name]
    if name in BUILTIN:
        return _load(BUILTIN[name], name)
    if name in _installed():
        cls = _installed()[name].load()
        return register_approach(name, replace=True)(cls)
    raise ApproachError(f"unknown approach {name!r}; expected one of {approach_names()}")


def approaches_where(capability: Callable[[type], object]) -> list[str]:
    """The built-in and registered approaches whose class has ``capability`` (e.g. an export format)."""
    return [name for name in sorted({*BUILTIN, *_registered}) if capability(get_approach(name))]


def is_known(name: str) -> bool:
    return name in _registered or name in BUILTIN or name in _installed()
