"""Stage 1: pretrained CRAFT score maps -> character boxes -> text lines in reading order."""

from ocr2stage.detection.craft import CRAFT_FILE, CRAFT_MD5, WeightsError, file_digest, verify_craft
from ocr2stage.detection.detector import CharDetector, DetectedChar, DetectedLine, DetectorConfig, union_box

__all__ = [
    "CRAFT_FILE",
    "CRAFT_MD5",
    "CharDetector",
    "DetectedChar",
    "DetectedLine",
    "DetectorConfig",
    "WeightsError",
    "file_digest",
    "union_box",
    "verify_craft",
]
