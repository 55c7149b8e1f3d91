"""The two-stage reader (ocr2stage: CRAFT characters + CNN classifier) as a bench engine.

Only a translation layer: ocr2stage knows nothing of the harness, so its results are mapped
onto the harness's Reading/Line/Char here.

Confidence: a character's is the classifier's probability of the class it chose; a line's is the
closest call on any of its boxes, rejected ones included (``ocr2stage.pipeline.line_confidence``),
and a code's the weakest of the lines the readout took (:func:`bench.readout.code_confidence`).
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.engines.base import Char, EngineInfo, EngineUnavailable, Line, Reading


class TwoStageEngine:
    name: ClassVar[str] = "two-stage"

    @staticmethod
    def check() -> None:
        """Both weight files present and matching their checksums; loads no network."""
        try:
            from ocr2stage.classification.weights import DEFAULT_PATH, verify_classifier
            from ocr2stage.detection.craft import WeightsError, default_craft_path, verify_craft
        except ImportError as e:
            raise EngineUnavailable(f"two-stage: {e}") from e
        try:
            verify_craft(default_craft_path())
            verify_classifier(DEFAULT_PATH)
        except WeightsError as e:
            raise EngineUnavailable(f"two-stage: {e}") from e

    @staticmethod
    def option_choices() -> dict[str, tuple[str, ...]]:
        """The values ``backend`` allows, checked by the CLI before any engine loads."""
        from ocr2stage.backends import AUTO, BACKENDS

        return {"backend": (AUTO, *BACKENDS)}

    def __init__(self, device: str = "cpu", classifier: str | None = None, backend: str = "auto") -> None:
        """``classifier``: weights of your own (``bench finetune --dataset MY_SET --out my.pt``, checksum
        sidecar beside), read as ``TwoStageOCR.from_pretrained`` reads them; default: the
        shipped classifier. ``backend``: how the networks run (``auto``, ``torch``, ``torch-bf16``,
        ``torch-int8``, ``onnx``, ``onnx-int8``; see ``ocr2stage.backends`` and docs/speed.md)."""
        try:
            from ocr2stage import TwoStageOCR
            from ocr2stage.backends import BackendError
            from ocr2stage.detection import WeightsError
        except ImportError as e:
            raise EngineUnavailable(f"two-stage: {e}") from e
        self.device = device
        try:
            self._ocr = TwoStageOCR.from_pretrained(
                device=device,
                classifier_path=None if classifier is None else Path(classifier),
                backend=backend,
            )
        except (WeightsError, BackendError) as e:
            raise EngineUnavailable(f"two-stage: {e}") from e

    def describe(self) -> EngineInfo:
        import ocr2stage

        versions = {"ocr2stage": ocr2stage.__version__, "torch": version("torch"), "easyocr": version("easyocr")}
        if self._ocr.backend.startswith("onnx"):
            versions["onnxruntime"] = version("onnxruntime")
        return EngineInfo(
            name=self.name,
            label=f"{self.name}: CRAFT (craft_mlt_25k) + CNN classifier, backend {self._ocr.backend}",
            versions=versions,
            models={
                "backend": self._ocr.backend,
                "detector": f"craft_mlt_25k ({self._ocr.detector.net.precision})",
                "classifier": f"ocr2stage CharNet 32x32 ({self._ocr.classifier.precision})",
            },
            weights=self._ocr.checksums,
            device=self.device,
        )

    def read(self, images: list[np.ndarray]) -> list[Reading]:
        return [
            Reading(
                tuple(
                    Line(
                        text=line.text,
                        box=line.box,
                        confidence=line.confidence,
                        chars=tuple(Char(c.text, c.box, c.confidence, c.uncertain) for c in line.chars),
                        lattice=line.lattice,
                    )
                    for line in result.lines
                )
            )
            for result in self._ocr.read(images)
        ]
