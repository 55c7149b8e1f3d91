"""Region score map -> one blob per character.

Why watershed from h-maxima: touching characters merge into one connected component of the
region score, but each keeps its own peak. A peak counts only if it rises ``peak_depth`` above
the saddle to its neighbour, so one character's noisy top does not split it in two, while the
valley between two touching characters (always deeper than that) does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import h_maxima
from skimage.segmentation import watershed


@dataclass(frozen=True)
class Blob:
    """One character's region in score-map pixels: box ``(x0, y0, x1, y1)`` (exclusive ends)."""

    box: tuple[int, int, int, int]
    peak: tuple[int, int]
    """``(x, y)`` of the highest region score."""
    score: float
    """The region score at the peak: CRAFT's confidence that a character centre is there."""


def find_blobs(
    region: np.ndarray, char_thr: float = 0.3, peak_thr: float = 0.5, peak_depth: float = 0.08
) -> list[Blob]:
    """Split the region map above ``char_thr`` into basins of peaks higher than ``peak_thr``."""
    mask = region > char_thr
    if not mask.any():
        return []
    peaks = h_maxima(region.astype(np.float64), peak_depth).astype(bool) & (region > peak_thr)
    markers, n = ndimage.label(peaks)
    if n == 0:
        return []
    labels = watershed(-region, markers, mask=mask)
    blobs = []
    for idx, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        own = labels[sl] == idx
        masked = np.where(own, region[sl], -1.0)
        py, px = np.unravel_index(int(masked.argmax()), masked.shape)
        blobs.append(
            Blob(
                box=(sl[1].start, sl[0].start, sl[1].stop, sl[0].stop),
                peak=(sl[1].start + int(px), sl[0].start + int(py)),
                score=float(masked.max()),
            )
        )
    return blobs
