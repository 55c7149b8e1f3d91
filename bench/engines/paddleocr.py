"""PaddleOCR 3.7 with the PP-OCRv5_mobile det + rec models (not PaddleOCR's default PP-OCRv6).

Confidence: each recognised box has its ``rec_score``; a line's is its weakest box's
(:func:`bench.engines.order.into_lines`), and a code's the weakest of the lines the readout
took (:func:`bench.readout.code_confidence`).

The model folders come from ``bench models fetch`` (sha256-checked) or from the user
(``OCR2STAGE_PADDLE_DET_DIR`` / ``OCR2STAGE_PADDLE_REC_DIR`` for other PaddleOCR models).
"""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.engines.base import EngineInfo, EngineUnavailable, Reading
from bench.engines.order import into_lines, quad_to_box
from bench.weights import PADDLE_MODELS, WeightsError, cache_dir, file_digest, verify_paddle_models

DET, REC = "PP-OCRv5_mobile_det", "PP-OCRv5_mobile_rec"


def _model_dirs() -> dict[str, Path]:
    det, rec = os.environ.get("OCR2STAGE_PADDLE_DET_DIR"), os.environ.get("OCR2STAGE_PADDLE_REC_DIR")
    if det and rec:
        return {DET: Path(det), REC: Path(rec)}
    return verify_paddle_models()


class PaddleOCREngine:
    name: ClassVar[str] = "paddleocr"

    @staticmethod
    def check() -> None:
        try:
            import paddle  # noqa: F401
            import paddleocr  # noqa: F401

            _model_dirs()
        except (ImportError, WeightsError) as e:
            raise EngineUnavailable(f"paddleocr: {e}") from e

    def __init__(self, device: str = "cpu") -> None:
        self.check()
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        os.environ.setdefault("PADDLE_PDX_CACHE_HOME", str(cache_dir() / "paddlex"))
        from paddleocr import PaddleOCR

        self.device = device
        self._dirs = _model_dirs()
        self._ocr = PaddleOCR(
            # PaddleX checks the name against the folder's inference.yml: folders carry the model name.
            text_detection_model_name=self._dirs[DET].name,
            text_detection_model_dir=str(self._dirs[DET]),
            text_recognition_model_name=self._dirs[REC].name,
            text_recognition_model_dir=str(self._dirs[REC]),
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
            device=device.replace("cuda", "gpu") if device.startswith("cuda") else "cpu",
            cpu_threads=os.cpu_count() or 1,
        )

    def describe(self) -> EngineInfo:
        weights = {
            f"{model}/{name}": file_digest(self._dirs[model] / name, "sha256")
            for model, files in PADDLE_MODELS.items()
            for name in files
        }
        return EngineInfo(
            name=self.name,
            label=f"PaddleOCR {version('paddleocr')}, PaddlePaddle {version('paddlepaddle')}, "
            f"{self._dirs[DET].name} + {self._dirs[REC].name}",
            versions={
                "paddleocr": version("paddleocr"),
                "paddlepaddle": version("paddlepaddle"),
                "paddlex": version("paddlex"),
            },
            models={"detector": self._dirs[DET].name, "recognizer": self._dirs[REC].name},
            weights=weights,
            device=self.device,
        )

    def read(self, images: list[np.ndarray]) -> list[Reading]:
        # PaddleOCR takes OpenCV's BGR order for arrays.
        results = self._ocr.predict([np.ascontiguousarray(img[:, :, ::-1]) for img in images])
        out = []
        for res in results:
            frags = [
                (str(t), quad_to_box(p), float(s))
                for t, s, p in zip(res["rec_texts"], res["rec_scores"], res["rec_polys"])
            ]
            out.append(Reading(into_lines(frags)))
        return out
