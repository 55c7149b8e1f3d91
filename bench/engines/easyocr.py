"""EasyOCR 1.7 (CRAFT detector + english_g2 CRNN recogniser), weights from the offline package.

Confidence: each recognised box has EasyOCR's CRNN score; a line's is its weakest box's
(:func:`bench.engines.order.into_lines`), and a code's the weakest of the lines the readout
took (:func:`bench.readout.code_confidence`).
"""

from __future__ import annotations

import os
from importlib.metadata import version
from typing import ClassVar

import numpy as np

from bench.engines.base import EngineInfo, EngineUnavailable, Reading
from bench.engines.order import into_lines, quad_to_box
from bench.weights import EASYOCR_WEIGHTS, WeightsError, cache_dir, easyocr_model_dir


class EasyOCREngine:
    name: ClassVar[str] = "easyocr"

    @staticmethod
    def check() -> None:
        try:
            import easyocr  # noqa: F401

            easyocr_model_dir()
        except (ImportError, WeightsError) as e:
            raise EngineUnavailable(f"easyocr: {e}") from e

    def __init__(self, device: str = "cpu") -> None:
        self.check()
        # EasyOCR writes into its module path even when given a model folder.
        os.environ.setdefault("EASYOCR_MODULE_PATH", str(cache_dir() / "easyocr"))
        import easyocr

        self.device = device
        self._reader = easyocr.Reader(
            ["en"],
            gpu=device.startswith("cuda"),
            model_storage_directory=str(easyocr_model_dir()),
            download_enabled=False,
            verbose=False,
            quantize=False,
        )

    def describe(self) -> EngineInfo:
        return EngineInfo(
            name=self.name,
            label=f"EasyOCR {version('easyocr')} (CRAFT + english_g2 CRNN)",
            versions={"easyocr": version("easyocr"), "torch": version("torch")},
            models={"detector": "craft_mlt_25k", "recognizer": "english_g2"},
            weights=dict(EASYOCR_WEIGHTS),
            device=self.device,
        )

    def read(self, images: list[np.ndarray]) -> list[Reading]:
        out = []
        for img in images:
            found = self._reader.readtext(img, detail=1, paragraph=False)
            out.append(Reading(into_lines([(text, quad_to_box(quad), float(conf)) for quad, text, conf in found])))
        return out
