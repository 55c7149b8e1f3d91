"""Tesseract 5 LSTM (a third recurrent peer) through tesserocr, eng traineddata from Debian.

Page segmentation mode 6 (a single uniform block): the inputs are code crops, one or two lines.
Tesseract has per-symbol boxes and confidences, so its character detection is measured too.
Confidence: a symbol's is Tesseract's (0-100, scaled to 0-1); a line's is its weakest symbol's, and a
code's the weakest of the lines the readout took (:func:`bench.readout.code_confidence`).
"""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.engines.base import Char, EngineInfo, EngineUnavailable, Line, Reading
from bench.weights import file_digest

TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)


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
        while True:
            try:
                text, bbox = it.GetUTF8Text(RIL.SYMBOL), it.BoundingBox(RIL.SYMBOL)
            except RuntimeError:  # tesserocr raises on an element without text
                text, bbox = "", None
            if text and bbox:
                chars.append(Char(text=text, box=tuple(map(float, bbox)), confidence=it.Confidence(RIL.SYMBOL) / 100))
                if it.IsAtFinalElement(RIL.WORD, RIL.SYMBOL) and not it.IsAtFinalElement(RIL.TEXTLINE, RIL.SYMBOL):
                    chars.append(Char(text=" "))
            if it.IsAtFinalElement(RIL.TEXTLINE, RIL.SYMBOL) and chars:
                lines.append(_line(chars))
                chars = []
            if not it.Next(RIL.SYMBOL):
                break
        if chars:
            lines.append(_line(chars))
        return Reading(tuple(lines))


def _line(chars: list[Char]) -> Line:
    """A line from its symbols; space markers carry no box and are dropped from ``chars``."""
    boxed = tuple(c for c in chars if c.box is not None)
    box = (
        min(c.box[0] for c in boxed),
        min(c.box[1] for c in boxed),
        max(c.box[2] for c in boxed),
        max(c.box[3] for c in boxed),
    )
    conf = min(c.confidence for c in boxed)
    return Line(text="".join(c.text for c in chars).strip(), box=box, confidence=conf, chars=boxed)
