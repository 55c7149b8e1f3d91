"""Stage 1: an RGB image -> characters (boxes) grouped into lines in reading order.

Why a second pass: CRAFT finds characters best when they are a few tens of pixels tall, and
its cost grows with the input area. The first pass runs at a small, cheap size guessed from the
image shape; when the characters it sees are outside the good range, the image is re-run once
at the size that brings them to ``target_char_px``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocr2stage.detection.chars import Blob, find_blobs
from ocr2stage.detection.craft import CraftNet, ScoreMaps
from ocr2stage.detection.lines import LineFit, fit_line, group_lines, word_ids
from ocr2stage.detection.sizing import FIRST_HEIGHT, MAX_SIDE, first_factor, scaled
from ocr2stage.geometry import Box


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds and sizes of stage 1 (defaults tuned on generated serial codes)."""

    char_thr: float = 0.3
    peak_thr: float = 0.5
    peak_depth: float = 0.08
    link_thr: float = 0.3
    first_height: int = FIRST_HEIGHT
    """Height of the first pass for a one-line crop (wide image); taller shapes get more."""
    char_px_range: tuple[float, float] = (14.0, 48.0)
    target_char_px: float = 28.0
    max_side: int = MAX_SIDE
    max_area: int = 3 * 128 * 128
    """Largest second-pass CRAFT input in pixels (width x height; 0: no bound beyond ``max_side``).
    Why: CRAFT's time grows with its input area, and on plate photos the second pass upscaled for
    the slogan's small letters (the median character) to up to 1248x608, 1.7 s of int8 CRAFT, while
    bringing the code far above CRAFT's good size. 49,152 rather than 65,536 since the rest of the
    reader got faster: on plates_us's first 300 the tail (p95/p50) fell from 2.28 to 1.96 for the
    same codes read (+4/-5); chosen so that it changed no count on the validation sets (generated
    dev codes 837 of 1,050 both, +5/-5; held-out br_plates 117 of 213, readings identical), where
    32,768 lost 9 dev codes (+3/-12). See docs/speed.md."""
    min_rescale: float = 1.3
    """The second pass runs only when it changes the scale by at least this factor either way.
    Why: where ``max_area`` binds, the second pass may only scale a photo by ~1.25 (a plate's
    256x128 first pass to 320x160), too little to bring its small characters into range, yet it
    was the plate tail (two passes in every image of the slowest tenth). Interleaved on
    plates_us's first 300: p95/p50 2.21 -> 1.32, codes +6/-3; on the validation sets: generated dev
    codes 835 against 837 of 1,050 (+2/-4, p = 0.69), dev containers and held-out br_plates
    readings identical."""
    grow: tuple[float, float] = (-0.15, 0.0)
    """Fraction added to each blob's width and height, and ``shift`` of its centre in blob
    heights: measured on generated images so boxes match the characters' ink boxes (the
    thresholded Gaussian of the region score is wider than a character)."""
    shift: tuple[float, float] = (-0.05, -0.03)
    min_side: int = 6
    probe_overlap: float = 0.1
    """How far a gap probe reaches into its neighbours, in line heights."""
    probe_min_width: float = 0.3
    """Narrowest gap probe, in line heights: room for a decimal point between touching digits."""
    probe_end: float = 0.7


@dataclass(frozen=True)
class DetectedChar:
    """A character box; a ``probe`` is the gap between two CRAFT characters, not a detection.

    Why probes: CRAFT gives no region score to a decimal point, a colon squeezed between digits
    or a thin segment ``1``; stage 2 looks at every gap and either finds such a character there
    or rejects the crop.
    """

    box: Box
    score: float
    probe: bool = False


def union_box(boxes: Sequence[Box]) -> Box:
    """The smallest box holding every one of ``boxes``."""
    a = np.array(boxes)
    return float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 2].max()), float(a[:, 3].max())


@dataclass(frozen=True)
class DetectedLine:
    """Characters of one line in reading order and the line's centre line (image pixels)."""

    chars: tuple[DetectedChar, ...]
    fit: LineFit


class CharDetector:
    """CRAFT plus post-processing; ``detect`` is the whole of stage 1 for one image."""

    def __init__(
        self,
        craft_path: Path | None = None,
        device: str = "cpu",
        config: DetectorConfig | None = None,
        bf16: bool | None = None,
        int8: bool = False,
        backend: str | None = None,
    ) -> None:
        """``bf16``, ``int8``, ``backend``: see :class:`CraftNet` (default: bf16 backbone where the
        hardware has it, else float32 PyTorch)."""
        self.net = CraftNet(craft_path, device, bf16, int8, backend)
        self.config = config or DetectorConfig()

    @property
    def checksum(self) -> str:
        return self.net.checksum

    def _blobs(self, maps: ScoreMaps) -> list[Blob]:
        c = self.config
        return find_blobs(maps.region, c.char_thr, c.peak_thr, c.peak_depth)

    def detect(self, image: np.ndarray) -> list[DetectedLine]:
        """Lines of characters of an RGB uint8 image; empty for an image without text."""
        c = self.config
        h, w = image.shape[:2]
        if min(h, w) < c.min_side:
            return []
        size = scaled(h, w, first_factor(h, w, c.first_height), c.max_side)
        maps = self.net(image, size)
        blobs = self._blobs(maps)
        if blobs:
            char_px = 2.0 * float(np.median([b.box[3] - b.box[1] for b in blobs]))
            lo, hi = c.char_px_range
            if not lo <= char_px <= hi:
                factor = size[1] / h * c.target_char_px / char_px
                if c.max_area:
                    factor = min(factor, (c.max_area / (h * w)) ** 0.5)
                better = scaled(h, w, factor, c.max_side)
                change = better[0] / size[0]
                if better != size and not 1 / c.min_rescale < change < c.min_rescale:
                    maps = self.net(image, better)
                    blobs = self._blobs(maps)
        if not blobs:
            return []
        return self._lines(maps, blobs)

    def _lines(self, maps: ScoreMaps, blobs: list[Blob]) -> list[DetectedLine]:
        sx, sy = maps.scale
        gx, gy = self.config.grow
        boxes = []
        for b in blobs:
            x0, y0, x1, y1 = b.box[0] * sx, b.box[1] * sy, b.box[2] * sx, b.box[3] * sy
            h = y1 - y0
            dx, dy = 0.5 * gx * (x1 - x0), 0.5 * gy * h
            ox, oy = self.config.shift[0] * h, self.config.shift[1] * h
            boxes.append((x0 - dx + ox, y0 - dy + oy, x1 + dx + ox, y1 + dy + oy))
        arr = np.array(boxes, dtype=np.float64)
        centers = np.stack([(arr[:, 0] + arr[:, 2]) / 2, (arr[:, 1] + arr[:, 3]) / 2], axis=1)
        heights = arr[:, 3] - arr[:, 1]
        words = word_ids(
            maps.region, maps.affinity, [b.peak for b in blobs], self.config.char_thr, self.config.link_thr
        )
        lines = []
        for idx in group_lines(centers, heights, words):
            fit = fit_line(centers[idx], heights[idx])
            chars = [DetectedChar(box=boxes[i], score=blobs[i].score) for i in idx]
            lines.append(DetectedLine(chars=self._with_probes(chars, fit), fit=fit))
        return lines

    def _with_probes(self, chars: list[DetectedChar], fit: LineFit) -> tuple[DetectedChar, ...]:
        """The line's characters with a probe in every gap and one beyond each end.

        The end probes reach ``probe_end`` line heights out: a first or last character CRAFT
        missed has no neighbour on that side to make a gap.
        """
        c, h = self.config, fit.height
        ends = [chars[0].box[0] - c.probe_end * h, chars[-1].box[2] + c.probe_end * h]
        edges = [(ends[0], chars[0].box[0])]
        edges += [(a.box[2], b.box[0]) for a, b in zip(chars, chars[1:])]
        edges.append((chars[-1].box[2], ends[1]))
        probes = []
        for left, right in edges:
            x0, x1 = left - c.probe_overlap * h, right + c.probe_overlap * h
            half = max(x1 - x0, c.probe_min_width * h) / 2
            xc = (x0 + x1) / 2
            yc = fit.center_y(xc)
            probes.append(DetectedChar((xc - half, yc - h / 2, xc + half, yc + h / 2), 0.0, probe=True))
        out = [probes[0]]
        for ch, probe in zip(chars, probes[1:]):
            out += [ch, probe]
        return tuple(out)
