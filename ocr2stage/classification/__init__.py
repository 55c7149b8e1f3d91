"""Stage 2: character crops -> class probabilities (charset + reject), and its training."""

from ocr2stage.classification.net import CHARSET, CLASSES, CROP_SIZE, REJECT, CharNet
from ocr2stage.classification.weights import CharClassifier, save_classifier, verify_classifier

__all__ = [
    "CHARSET",
    "CLASSES",
    "CROP_SIZE",
    "REJECT",
    "CharClassifier",
    "CharNet",
    "save_classifier",
    "verify_classifier",
]
