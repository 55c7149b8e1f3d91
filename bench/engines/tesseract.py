"""Tesseract 5 LSTM (a third recurrent peer) through tesserocr, eng traineddata from Debian.

Page segmentation mode 6 (a single uniform block): the inputs are code crops, one or two lines.
Tesseract has per-symbol boxes and confidences, so its character detection is measured too.
Confidence: a symbol's is Tesseract's (0-100, scaled to 0-1); a line's is its weakest symbol's, and a
code's the weakest of the lines the readout took (:func:`bench.readout.code_confidence`).

Each symbol's alternatives (Tesseract's choice iterator, ``lstm_choice_mode`` 2) go into the line's
``choices`` as probabilities (:func:`choice_probabilities`), for the harness's format correction
(:mod:`bench.formats`). The mode does not change what Tesseract reads: the first 200 ``serials``
images gave 200 identical readings with and without it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.engines.base import Char, EngineInfo, EngineUnavailable, Line, Reading
from bench.weights import file_digest
from ocr2stage.decoding import Alternatives

TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
CHOICE_MODE = "2"
"""``lstm_choice_mode``: 2 keeps, per symbol, the best reading of its stretch of the LSTM's output
and the best of up to ``lstm_choice_iterations`` (5) further searches of that stretch, each
excluding the characters found before (Tesseract's ``RecodeBeamSearch::extractSymbolChoices``)."""


def _tessdata() -> Path:
    candidates = [os.environ.get("TESSDATA_PREFIX"), *TESSDATA_DIRS]
    for folder in filter(None, candidates):
        if (Path(folder) / "eng.traineddata").is_file():
            return Path(folder)
    raise EngineUnavailable(
        "tesseract: eng.traineddata not found (apt-get install tesseract-ocr-eng, or set TESSDATA_PREFIX)"
    )


class TesseractEngine:
    name: ClassVar[str] = "tesseract"

    @staticmethod
    def check() -> None:
        try:
            import tesserocr  # noqa: F401
        except ImportError as e:
            raise EngineUnavailable(f"tesseract: python package tesserocr is not installed ({e})") from e
        _tessdata()

    def __init__(self, device: str = "cpu") -> None:
        self.check()
        import tesserocr

        self.device = "cpu"  # Tesseract has no GPU path.
        self._tessdata = _tessdata()
        self._api = tesserocr.PyTessBaseAPI(
            path=str(self._tessdata) + "/", lang="eng", psm=tesserocr.PSM.SINGLE_BLOCK, oem=tesserocr.OEM.LSTM_ONLY
        )
        if not self._api.SetVariable("lstm_choice_mode", CHOICE_MODE):
            raise EngineUnavailable("tesseract: this Tesseract has no lstm_choice_mode (per-symbol alternatives)")
        self._rating_coefficient = float(self._api.GetDoubleVariable("lstm_rating_coefficient"))
        self._tesserocr = tesserocr

    def describe(self) -> EngineInfo:
        return EngineInfo(
            name=self.name,
            label=f"Tesseract {self._tesserocr.tesseract_version().split()[1]} LSTM (eng, psm 6)",
            versions={"tesserocr": version("tesserocr"), "tesseract": self._tesserocr.tesseract_version().split()[1]},
            models={"recognizer": "eng.traineddata (LSTM)"},
            weights={"eng.traineddata": file_digest(self._tessdata / "eng.traineddata", "sha256")},
            device=self.device,
        )

    def read(self, images: list[np.ndarray]) -> list[Reading]:
        from PIL import Image

        return [self._read_one(Image.fromarray(img)) for img in images]

    def _read_one(self, image: object) -> Reading:
        RIL = self._tesserocr.RIL
        self._api.SetImage(image)
        self._api.Recognize()
        lines: list[Line] = []
        it = self._api.GetIterator()
        if it is None:
            return Reading()
        chars: list[Char] = []
        choices: list[Alternatives] = []
        while True:
            try:
                text, bbox = it.GetUTF8Text(RIL.SYMBOL), it.BoundingBox(RIL.SYMBOL)
            except RuntimeError:  # tesserocr raises on an element without text
                text, bbox = "", None
            if text and bbox:
                x0, y0, x1, y1 = map(float, bbox)
                chars.append(Char(text=text, box=(x0, y0, x1, y1), confidence=it.Confidence(RIL.SYMBOL) / 100))
                found = ((c.GetUTF8Text(), c.Confidence()) for c in it.GetChoiceIterator())
                choices.append(choice_probabilities(text, found, self._rating_coefficient))
                if it.IsAtFinalElement(RIL.WORD, RIL.SYMBOL) and not it.IsAtFinalElement(RIL.TEXTLINE, RIL.SYMBOL):
                    chars.append(Char(text=" "))
            if it.IsAtFinalElement(RIL.TEXTLINE, RIL.SYMBOL) and chars:
                lines.append(_line(chars, choices))
                chars, choices = [], []
            if not it.Next(RIL.SYMBOL):
                break
        if chars:
            lines.append(_line(chars, choices))
        return Reading(tuple(lines))


def choice_probabilities(symbol: str, choices: Iterable[tuple[str | None, float]], coefficient: float) -> Alternatives:
    """One symbol's alternatives as probabilities, the symbol Tesseract read first.

    A choice's confidence is not a probability: Tesseract computes it as ``100 - coefficient *
    rating`` (``lstm_rating_coefficient``, 5), clipped to 0-100, where the rating is the summed
    ``0.085 - log p`` of the LSTM's outputs over the symbol's stretch of the line along the best
    path that reads that character (``ChoiceIterator::Confidence``; ``kCertOffset`` -0.085 per step).
    Every choice of a symbol spans the same steps, so ``exp(-rating)`` is, up to one factor shared by
    the symbol, the probability of that path: normalised over the choices it is the probability of
    each among them (what Tesseract's search did not reach counts as nothing). A confidence clipped
    to 0 only says "rating at least 20" and is left out, as are choices without text. Choices that
    do not include ``symbol`` belong to another stretch (the choice iterator and the symbols fall
    out of step now and then): the symbol is then its only alternative.
    """
    ratings: dict[str, float] = {}
    for text, confidence in choices:
        if text and confidence > 0:
            ratings.setdefault(text, (100.0 - confidence) / coefficient)
    if symbol not in ratings:
        return ((symbol, 1.0),)
    best = min(ratings.values())
    weights = {c: math.exp(best - r) for c, r in ratings.items()}
    total = sum(weights.values())
    others = sorted((c for c in weights if c != symbol), key=lambda c: -weights[c])
    return tuple((c, weights[c] / total) for c in (symbol, *others))


def _line(chars: list[Char], choices: list[Alternatives]) -> Line:
    """A line from its symbols and their alternatives; space markers carry no box and are dropped
    from ``chars``."""
    boxed = tuple(c for c in chars if c.box is not None)
    boxes = [c.box for c in boxed if c.box is not None]
    box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    conf = min(c.confidence or 0.0 for c in boxed)
    return Line(
        text="".join(c.text for c in chars).strip(), box=box, confidence=conf, chars=boxed, choices=tuple(choices)
    )
