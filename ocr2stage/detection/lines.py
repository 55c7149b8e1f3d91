"""Character blobs + affinity map -> text lines in reading order.

Why two steps: CRAFT's affinity links neighbouring characters of a word, so connected
components of region-or-affinity give words whose slope is reliable; words separated by a space
are then joined into one line when they lie on the same (possibly tilted) baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

import numpy as np
from scipy import ndimage

MAX_SLOPE = 0.25
"""About 14 degrees: steeper fits come from two characters on different lines, not a tilt."""

MAX_HEIGHT_RATIO = 2.0
"""A word whose characters are more than this apart in height from a line's typical character is
other text, even side by side: a plate's small state name level with its big code, or fine print
beside a nameplate's model number. Joined, the small print's many characters set the line's height
(a median) and every crop of the code is cut from a band too thin for it. A plate's print is about
a fifth of its code; on the training images, 1.6 also split off short words whose height swings
with one merged or noisy blob."""
MIN_WORD = 3
"""Shorter words always join a line they sit on: a lone ``.``, a ``:`` CRAFT splits in two dots."""


@dataclass(frozen=True)
class LineFit:
    """``y = slope * x + intercept`` through the character centres; ``height`` is typical."""

    slope: float
    intercept: float
    height: float

    @overload
    def center_y(self, x: float) -> float: ...
    @overload
    def center_y(self, x: np.ndarray) -> np.ndarray: ...
    def center_y(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.slope * x + self.intercept


def fit_line(centers: np.ndarray, heights: np.ndarray) -> LineFit:
    """Least-squares centre line of characters (N, 2) with their heights (N,)."""
    xs, ys = centers[:, 0], centers[:, 1]
    slope = 0.0
    if len(xs) >= 2 and np.ptp(xs) > 0:
        slope = float(np.clip(np.polyfit(xs, ys, 1)[0], -MAX_SLOPE, MAX_SLOPE))
    intercept = float(np.median(ys - slope * xs))
    return LineFit(slope, intercept, float(np.median(heights)))


def word_ids(
    region: np.ndarray,
    affinity: np.ndarray,
    peaks: list[tuple[int, int]],
    text_thr: float = 0.3,
    link_thr: float = 0.3,
) -> list[int]:
    """Component of the linked text mask that holds each peak ``(x, y)``."""
    labels, _ = ndimage.label((region > text_thr) | (affinity > link_thr))
    return [int(labels[y, x]) for x, y in peaks]


def typical_height(heights: np.ndarray) -> float:
    """Median height of a word's characters, marks left out: a ``.`` or ``-`` is small by nature,
    and in a short word like ``.3-`` two of them would make a digit's word look like small print."""
    return float(np.median(heights[heights >= 0.5 * heights.max()]))


def _same_size(line_height: float, word_height: float, n_chars: int) -> bool:
    """Whether a word of ``n_chars`` characters, ``word_height`` typical, is of the line's size
    (see :data:`MAX_HEIGHT_RATIO` and :data:`MIN_WORD`)."""
    return n_chars < MIN_WORD or max(line_height, word_height) <= MAX_HEIGHT_RATIO * min(line_height, word_height)


def _same_line(a: LineFit, b: LineFit, centers_b: np.ndarray) -> bool:
    tol = 0.5 * max(a.height, b.height)
    return bool(np.all(np.abs(centers_b[:, 1] - a.center_y(centers_b[:, 0])) < tol))


def split_rows(idx: np.ndarray, centers: np.ndarray, heights: np.ndarray, gap: float = 0.6) -> list[np.ndarray]:
    """Split one linked component into rows where its centres jump down by ``gap`` heights.

    Why: with a tight line spacing the region scores of two lines touch, so one component holds
    characters of both. Sorted by height, the centres of a tilted line rise a little per
    character; a jump of more than half a character height only happens between lines.
    """
    order = idx[np.argsort(centers[idx, 1])]
    cut = np.flatnonzero(np.diff(centers[order, 1]) > gap * float(np.median(heights[idx]))) + 1
    return np.split(order, cut)


def group_lines(centers: np.ndarray, heights: np.ndarray, words: list[int]) -> list[list[int]]:
    """Indices of characters per line: lines top to bottom, characters along the line."""
    groups = [
        row
        for w in dict.fromkeys(words)
        for row in split_rows(np.flatnonzero(np.asarray(words) == w), centers, heights)
    ]
    # Longest words first: their fit is the most trustworthy reference for shorter ones.
    groups.sort(key=len, reverse=True)
    fits = [fit_line(centers[g], heights[g]) for g in groups]
    lines: list[list[int]] = []
    line_fits: list[LineFit] = []
    for g, fit in zip(groups, fits):
        size = typical_height(heights[g])
        level = [
            k
            for k, ref in enumerate(line_fits)
            if _same_size(ref.height, size, len(g))
            and (_same_line(ref, fit, centers[g]) or _same_line(fit, ref, centers[lines[k]]))
        ]
        if level:
            # Of the lines it sits on, a word joins the one nearest its size: "92" beside a plate's
            # small print belongs to the big code after it, not to the print.
            k = min(level, key=lambda k: abs(np.log(line_fits[k].height / size)))
            lines[k].extend(g.tolist())
            line_fits[k] = fit_line(centers[lines[k]], heights[lines[k]])
        else:
            lines.append(g.tolist())
            line_fits.append(fit)
    ordered = []
    for idx, fit in zip(lines, line_fits):
        direction = np.array([1.0, fit.slope]) / np.hypot(1.0, fit.slope)
        ordered.append(sorted(idx, key=lambda i: float(centers[i] @ direction)))
    ordered.sort(key=lambda idx: float(np.mean(centers[idx, 1])))
    return ordered
