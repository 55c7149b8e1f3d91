"""The engine zoo: built-in adapters by name, plus third-party ones via entry points.

A third-party package registers ``name = "module:Class"`` in the entry-point group
``ocr2stage_bench.engines``; the class implements :class:`bench.engines.base.Engine`. An
unregistered adapter can be named directly as ``module:Class``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Collection, Mapping
from importlib.metadata import entry_points

from bench.engines.base import Engine, EngineUnavailable

ENTRY_POINT_GROUP = "ocr2stage_bench.engines"
BUILTIN = {
    "two-stage": "bench.engines.two_stage:TwoStageEngine",
    "two-stage-int8": "bench.engines.two_stage_int8:TwoStageInt8Engine",
    "easyocr": "bench.engines.easyocr:EasyOCREngine",
    "paddleocr": "bench.engines.paddleocr:PaddleOCREngine",
    "tesseract": "bench.engines.tesseract:TesseractEngine",
}
DEFAULT_ENGINES = ("two-stage", "easyocr", "paddleocr", "tesseract")


class UnknownEngine(KeyError):
    def __str__(self) -> str:
        return f"unknown engine {self.args[0]!r}; known engines: {', '.join(engine_names())}"


def _targets() -> dict[str, str]:
    targets = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        targets.setdefault(ep.name, ep.value)
    return targets


def engine_names() -> list[str]:
    return list(_targets())


def engine_class(name: str) -> type[Engine]:
    """Import an engine's class by name; raises UnknownEngine or EngineUnavailable."""
    target = _targets().get(name) or (name if ":" in name else None)
    if target is None:
        raise UnknownEngine(name)
    module, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ImportError as e:
        raise EngineUnavailable(f"{name}: cannot import {module} ({e})") from e
    except AttributeError as e:
        raise EngineUnavailable(f"{name}: module {module} has no engine class {attr!r}") from e
    if not isinstance(cls, type):
        raise EngineUnavailable(f"{name}: {module}:{attr} is not a class")
    return cls


def availability(name: str) -> str | None:
    """None when the engine can run here, else the reason (checks packages and weights, loads nothing)."""
    try:
        engine_class(name).check()
    except EngineUnavailable as e:
        return str(e)
    return None


def engine_options(specs: list[str], engines: list[str]) -> dict[str, dict[str, str]]:
    """``ENGINE.KEY=VALUE`` strings -> keyword arguments per engine, checked against the engines
    being run, their constructors' parameters and, for an engine with ``option_choices()``, the
    values an option allows (imports the classes, loads nothing).

    Why checked up front: a typo would otherwise surface only as an engine that failed to load,
    after every other engine had been loaded; raises ValueError with what is wrong.
    """
    out: dict[str, dict[str, str]] = {}
    for spec in specs:
        target, eq, value = spec.partition("=")
        engine, dot, key = target.rpartition(".")
        if not eq or not dot or not engine or not key:
            raise ValueError(f"engine option {spec!r} is not ENGINE.KEY=VALUE")
        if engine not in engines:
            raise ValueError(f"engine option {spec!r}: {engine!r} is not among the engines run ({', '.join(engines)})")
        cls = engine_class(engine)
        params = inspect.signature(cls).parameters
        if key == "device" or key not in params:
            takes = ", ".join(p for p in params if p != "device") or "none"
            raise ValueError(f"engine option {spec!r}: {engine} takes no option {key!r} (its options: {takes})")
        option_choices: Callable[[], Mapping[str, Collection[str]]] = getattr(cls, "option_choices", dict)
        allowed = option_choices().get(key)
        if allowed is not None and value not in allowed:
            raise ValueError(f"engine option {spec!r}: {engine}'s {key} is one of {', '.join(allowed)}")
        out.setdefault(engine, {})[key] = value
    return out
