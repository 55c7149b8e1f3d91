"""Character crops: the classifier's input, cut from the original image around stage-1 boxes.

Why the crop spans the line's height rather than the box's: a ``.``, a ``-`` and an ``O`` differ
mostly in size and position on the line. Cutting every character from the same band, centred on
the line's centre line, keeps that information after the crop is scaled to 32x32.
"""

from __future__ import annotations

import cv2
import numpy as np

from ocr2stage import backends
from ocr2stage.classification.net import CROP_SIZE
from ocr2stage.detection import CharDetector, DetectedLine

MARGIN = 0.25
"""Context around a character, as a fraction of the line height on each side."""


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luminance of an RGB (or already grayscale) uint8 image."""
    return image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def crop(gray: np.ndarray, rect: tuple[float, float, float, float], size: int = CROP_SIZE) -> np.ndarray:
    """Scale ``rect`` = (x0, y0, x1, y1) into a size x size crop, aspect kept, centred.

    Why two steps when shrinking: ``warpAffine`` interpolates between neighbouring pixels
    whatever the scale (its ``INTER_AREA`` is linear too), so a big character shrunk to a third
    keeps one pixel in three and a thin stroke or the dot inside a ``0`` can fall between
    samples. The rectangle is first cut at no less than the image's own resolution, then
    averaged down with ``resize``'s ``INTER_AREA``. Pixels outside the image repeat the border,
    so a character at the edge gets no black frame that the classifier would have to learn to ignore.
    """
    x0, y0, x1, y1 = rect
    side = max(x1 - x0, y1 - y0, 1e-3)
    canvas = max(size, int(np.ceil(side)))
    scale = canvas / side
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    m = np.array([[scale, 0, canvas / 2 - scale * cx], [0, scale, canvas / 2 - scale * cy]], dtype=np.float64)
    out = cv2.warpAffine(gray, m, (canvas, canvas), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out if canvas == size else cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)


def line_rects(line: DetectedLine, margin: float = MARGIN) -> list[tuple[float, float, float, float]]:
    """Crop rectangle of each character of a line: its own width, the line's band vertically."""
    h = line.fit.height
    pad = margin * h
    rects = []
    for ch in line.chars:
        x0, _, x1, _ = ch.box
        yc = line.fit.center_y((x0 + x1) / 2)
        rects.append((x0 - pad, yc - h / 2 - pad, x1 + pad, yc + h / 2 + pad))
    return rects


def line_crops(gray: np.ndarray, lines: list[DetectedLine]) -> np.ndarray:
    """All character crops of an image's lines, in reading order: (N, 32, 32) uint8."""
    crops = [crop(gray, r) for line in lines for r in line_rects(line)]
    return np.stack(crops) if crops else np.zeros((0, CROP_SIZE, CROP_SIZE), np.uint8)


def calibration_crops(detector: CharDetector) -> np.ndarray:
    """The crops ``detector`` cuts from the int8 calibration images
    (:data:`ocr2stage.backends.INT8_CALIBRATION`): the classifier's int8 ranges are set on what
    stage 2 is given, probes and half characters included, not on clean glyphs."""
    from ocr2stage.synth.dataset import generated_samples

    seed, count = backends.INT8_CALIBRATION
    out = []
    for _, sample in generated_samples(seed, 0, count):
        rgb = np.asarray(sample.image.convert("RGB"))
        out.append(line_crops(to_gray(rgb), detector.detect(rgb)))
    return np.concatenate(out)
