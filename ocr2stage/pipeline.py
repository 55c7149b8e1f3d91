"""The two-stage reader: CRAFT finds the characters, the CNN reads each one.

Usable without the benchmark harness::

    from ocr2stage import TwoStageOCR
    results = TwoStageOCR.from_pretrained(device="cpu").read([rgb_uint8_array])
    print(results[0].text)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocr2stage.classification.crops import line_crops, to_gray
from ocr2stage.classification.net import CLASSES, REJECT
from ocr2stage.classification.weights import CharClassifier
from ocr2stage.detection import CharDetector, DetectedLine, DetectorConfig

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class CharResult:
    """One classified character; ``uncertain`` when its probability is below the threshold."""

    text: str
    box: Box
    confidence: float
    uncertain: bool


@dataclass(frozen=True)
class LineResult:
    """One line; ``confidence`` is its weakest character's, as one bad character spoils a code."""

    text: str
    box: Box
    confidence: float
    chars: tuple[CharResult, ...]


@dataclass(frozen=True)
class OCRResult:
    """Everything read on one image, lines top to bottom."""

    lines: tuple[LineResult, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


def as_rgb(image: object) -> np.ndarray | None:
    """The image as an RGB uint8 array, or None when it cannot hold a character at all."""
    try:
        arr = np.asarray(image)
    except (TypeError, ValueError):
        return None
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
        return None
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr[..., :3])


def _union(boxes: Sequence[Box]) -> Box:
    a = np.array(boxes)
    return float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 2].max()), float(a[:, 3].max())


def assemble_line(
    line: DetectedLine, probs: np.ndarray, uncertain_below: float, space_gap: float
) -> LineResult | None:
    """Classified characters of one line -> its text; rejected crops dropped, spaces at gaps.

    A space goes where the empty gap between two kept characters exceeds ``space_gap`` line
    heights: the height is the one size that does not change between ``1``, ``W`` and ``.``.
    """
    chars: list[CharResult] = []
    text = ""
    for ch, p in zip(line.chars, probs):
        best = int(p.argmax())
        if CLASSES[best] == REJECT:
            continue
        if chars and ch.box[0] - chars[-1].box[2] > space_gap * line.fit.height:
            text += " "
        conf = float(p[best])
        chars.append(CharResult(CLASSES[best], ch.box, conf, conf < uncertain_below))
        text += CLASSES[best]
    if not chars:
        return None
    return LineResult(text, _union([c.box for c in chars]), min(c.confidence for c in chars), tuple(chars))


class TwoStageOCR:
    """Stage 1 (:class:`CharDetector`) composed with stage 2 (:class:`CharClassifier`)."""

    def __init__(
        self, detector: CharDetector, classifier: CharClassifier, uncertain_below: float = 0.6,
        space_gap: float = 0.45,
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.uncertain_below = uncertain_below
        self.space_gap = space_gap

    @classmethod
    def from_pretrained(
        cls, device: str = "cpu", classifier_path: Path | None = None, craft_path: Path | None = None,
        config: DetectorConfig | None = None,
    ) -> TwoStageOCR:
        """Load verified CRAFT (md5) and the shipped or given classifier (sha256)."""
        return cls(CharDetector(craft_path, device, config), CharClassifier.load(classifier_path, device))

    @property
    def checksums(self) -> dict[str, str]:
        """Weight file name -> checksum, for every file this reader loaded."""
        return {self.detector.net.path.name: self.detector.checksum,
                self.classifier.path.name: self.classifier.checksum}

    def detect(self, image: object) -> list[DetectedLine]:
        """Stage 1 alone; an unusable image has no lines."""
        rgb = as_rgb(image)
        return [] if rgb is None else self.detector.detect(rgb)

    def read(self, images: Sequence[object]) -> list[OCRResult]:
        """Read a batch: stage 1 per image, then every crop of the batch in one forward pass."""
        rgbs = [as_rgb(im) for im in images]
        detections = [[] if rgb is None else self.detector.detect(rgb) for rgb in rgbs]
        crops = [line_crops(to_gray(rgb), lines) for rgb, lines in zip(rgbs, detections) if lines]
        probs = self.classifier.probabilities(np.concatenate(crops) if crops else np.zeros((0, 32, 32), np.uint8))
        results, k = [], 0
        for lines in detections:
            out = []
            for line in lines:
                n = len(line.chars)
                res = assemble_line(line, probs[k : k + n], self.uncertain_below, self.space_gap)
                k += n
                if res is not None:
                    out.append(res)
            results.append(OCRResult(tuple(out)))
        return results
