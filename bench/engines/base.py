"""The adapter protocol every engine implements, and the reading it returns.

Engines get RGB ``uint8`` arrays (H, W, 3) - the dataset loader has already normalised
grayscale, RGBA and 16-bit images - and return one :class:`Reading` per image. The harness,
never the engine, measures time: an engine only loads and reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

Box = tuple[float, float, float, float]
"""Axis-aligned box ``(x0, y0, x1, y1)`` in pixels of the image the engine was given."""


@dataclass(frozen=True)
class Char:
    """One character with its box and confidence, for engines that see characters."""

    text: str
    box: Box | None = None
    confidence: float | None = None
    uncertain: bool = False


@dataclass(frozen=True)
class Line:
    """One text line as the engine read it; ``chars`` only where the engine has them.

    ``lattice`` (engines that know their alternatives): every box of the line in reading order,
    rejected ones included, as ``((character, probability), ...)`` with ``""`` for "not a
    character"; the harness decodes a format from it (:mod:`bench.formats`).

    ``choices`` (string engines that know alternatives, Tesseract): one per character of ``text``,
    whitespace left out, as ``((character, probability), ...)`` with the character read first. The
    reading stays the string; a format corrects it with these alternatives in place of the look-alike
    edits other string engines get (:func:`ocr2stage.decoding.choice_costs`)."""

    text: str
    box: Box | None = None
    confidence: float | None = None
    chars: tuple[Char, ...] | None = None
    lattice: tuple[tuple[tuple[str, float], ...], ...] | None = None
    choices: tuple[tuple[tuple[str, float], ...], ...] | None = None

    @property
    def height(self) -> float:
        return 0.0 if self.box is None else self.box[3] - self.box[1]


@dataclass(frozen=True)
class Reading:
    """Everything an engine read on one image, lines in the engine's reading order."""

    lines: tuple[Line, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Reading:
        lines = []
        for ln in data.get("lines", []):
            chars = ln.get("chars")
            lines.append(
                Line(
                    text=ln["text"],
                    box=tuple(ln["box"]) if ln.get("box") is not None else None,
                    confidence=ln.get("confidence"),
                    chars=None
                    if chars is None
                    else tuple(
                        Char(
                            text=c["text"],
                            box=tuple(c["box"]) if c.get("box") is not None else None,
                            confidence=c.get("confidence"),
                            uncertain=c.get("uncertain", False),
                        )
                        for c in chars
                    ),
                    lattice=_alternatives(ln.get("lattice")),
                    choices=_alternatives(ln.get("choices")),
                )
            )
        return Reading(lines=tuple(lines))


def _alternatives(boxes: list[list[Any]] | None) -> tuple[tuple[tuple[str, float], ...], ...] | None:
    return None if boxes is None else tuple(tuple((str(c), float(p)) for c, p in box) for box in boxes)


@dataclass(frozen=True)
class EngineInfo:
    """What produced a result: goes into every run so numbers stay attributable."""

    name: str
    label: str
    versions: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)
    """File name -> checksum (``md5:...`` or ``sha256:...``) of every weight file loaded."""
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class EngineUnavailable(RuntimeError):
    """The engine cannot run here (package, binary or weights missing); the message says which."""


@runtime_checkable
class Engine(Protocol):
    """An OCR engine adapter. Constructing it loads the models (the harness times that)."""

    name: ClassVar[str]

    @staticmethod
    def check() -> None:
        """Raise EngineUnavailable naming what is missing (package, binary, weights); loads nothing."""
        ...

    def __init__(self, device: str = "cpu") -> None:
        """Further keyword parameters, if any, are the engine's options (``bench run --engine-option``)."""
        ...

    def describe(self) -> EngineInfo:
        """Versions, models, weight checksums and device of the loaded engine."""
        ...

    def read(self, images: list[np.ndarray]) -> list[Reading]:
        """Read a batch of RGB uint8 images; one Reading per image, same order."""
        ...
