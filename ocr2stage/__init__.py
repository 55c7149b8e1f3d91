"""ocr2stage: two-stage OCR for industrial codes - CRAFT finds characters, a small CNN reads each.

``from ocr2stage import TwoStageOCR; TwoStageOCR.from_pretrained().read(images)``

Why the lazy import: the synthetic-data generator lives in this package too, and a script that
only renders images should not pay for loading torch and EasyOCR's CRAFT definition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["TwoStageOCR", "__version__"]

if TYPE_CHECKING:
    from ocr2stage.pipeline import TwoStageOCR


def __getattr__(name: str) -> Any:
    if name == "TwoStageOCR":
        from ocr2stage.pipeline import TwoStageOCR

        return TwoStageOCR
    raise AttributeError(f"module 'ocr2stage' has no attribute {name!r}")
