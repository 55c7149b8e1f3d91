"""A second look where stage 2 found no character: split rejected detections, narrow the gaps.

Both are segmentation by recognition: new boxes are proposed where the first reading failed and
kept only when the classifier reads them confidently. Measured on 900 generated dev codes (seed 7,
never a test set), all of one classifier call per batch:

- CRAFT sometimes joins a character and a small neighbour into one box (a ``1`` with the ``:`` or
  ``.`` after it, a narrow segment ``1`` with the next digit). Stage 2 rightly rejects the pair as
  "not one character", which loses both. The two halves of the box, cut at a few positions, are
  read instead when both read as characters; a noise blob's halves are rejected too, so it stays
  dropped. Codes read: 0.866 -> 0.884.
- A gap probe spans the whole gap and reaches into both neighbours, so a decimal point at one
  side of it competes with two half characters and is rejected. Narrow windows at the gap's
  sides look like the crops of the points CRAFT does detect. Only separators are taken from
  them: a window next to a stroke reads ``1`` too easily. Codes read: 0.884 -> 0.898.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ocr2stage.classification.crops import line_crops
from ocr2stage.classification.net import CLASSES
from ocr2stage.detection import DetectedChar, DetectedLine

SPLITS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
"""Split positions as fractions of a rejected box's width; the best-read one wins."""
SPLIT_ACCEPT = 0.5
"""Both halves must read as a character with at least this probability."""
SPLIT_MIN_WIDTH = 0.7
"""Narrower rejected boxes (in line heights) are not split: too narrow for two characters side by
side. On dev codes no split that helped was narrower; on real plates, with artwork and fragments
rejected by the dozen, it cuts the split crops per image from 190 to 55."""
WINDOWS = (0.25, 0.75)
"""Centres of the narrow windows, as fractions of a rejected probe's width."""
WINDOW_WIDTH = 0.2
"""Width of a window, in line heights: a point's width."""
WINDOW_MIN_GAP = 0.35
"""Narrower probes (in line heights) get no windows: adjacent characters with no room between."""
WINDOW_ACCEPT = 0.7
MARK_HINT = 0.01
"""A probe gets windows only when its own crop gives the marks this much probability together:
an empty gap between two characters gives them almost none. This skips two windows in three
(22.7 -> 7.9 second-look crops per image) for one dev code of 900."""
MARKS = "-.:/"
"""What a window may find: the separators CRAFT gives little or no region score."""
_REJECT = len(CLASSES) - 1
_MARKS = [CLASSES.index(c) for c in MARKS]


def halves(ch: DetectedChar, fraction: float) -> tuple[DetectedChar, DetectedChar]:
    """The box cut vertically at ``fraction`` of its width."""
    x0, y0, x1, y1 = ch.box
    xm = x0 + fraction * (x1 - x0)
    return DetectedChar((x0, y0, xm, y1), ch.score), DetectedChar((xm, y0, x1, y1), ch.score)


def windows(probe: DetectedChar, height: float) -> tuple[DetectedChar, ...]:
    """Narrow windows inside a gap probe wide enough to hold a mark between two characters."""
    x0, y0, x1, y1 = probe.box
    if x1 - x0 < WINDOW_MIN_GAP * height:
        return ()
    half = WINDOW_WIDTH * height / 2
    centres = [x0 + f * (x1 - x0) for f in WINDOWS]
    return tuple(DetectedChar((c - half, y0, c + half, y1), 0.0, probe=True) for c in centres)


def best_split(pair_probs: np.ndarray, accept: float = SPLIT_ACCEPT) -> int | None:
    """Index of the split whose halves both read best, given (splits, 2, classes) probabilities;
    None when no split has two halves read as characters with probability ``accept``."""
    chars = pair_probs.argmax(axis=2) != _REJECT
    score = np.where(chars.all(axis=1), pair_probs.max(axis=2).min(axis=1), -1.0)
    best = int(score.argmax())
    return best if score[best] >= accept else None


def best_window(window_probs: np.ndarray, accept: float = WINDOW_ACCEPT) -> int | None:
    """Index of the window that reads a mark most surely, given (windows, classes) probabilities;
    None when none reads one (as its best class) with probability ``accept``."""
    mark = np.isin(window_probs.argmax(axis=1), _MARKS)
    score = np.where(mark, window_probs.max(axis=1), -1.0)
    best = int(score.argmax())
    return best if score[best] >= accept else None


def _proposals(ch: DetectedChar, probs: np.ndarray, height: float) -> tuple[DetectedChar, ...]:
    """Boxes to read instead of a rejected crop: windows in a probe that hints at a mark, the
    halves at every split of a detection wide enough for two characters."""
    if ch.probe:
        return windows(ch, height) if probs[_MARKS].sum() >= MARK_HINT else ()
    if ch.box[2] - ch.box[0] < SPLIT_MIN_WIDTH * height:
        return ()
    return tuple(b for f in SPLITS for b in halves(ch, f))


Reading = list[tuple[DetectedChar, np.ndarray]]


def _decide(ch: DetectedChar, boxes: tuple[DetectedChar, ...], probs: np.ndarray) -> Reading | None:
    """The boxes (with their probabilities) that replace ``ch``, or None to keep it."""
    if ch.probe:
        w = best_window(probs)
        return None if w is None else [(boxes[w], probs[w])]
    pairs = probs.reshape(len(SPLITS), 2, -1)
    s = best_split(pairs)
    return None if s is None else list(zip(boxes[2 * s : 2 * s + 2], pairs[s]))


def second_look(
    grays: Sequence[np.ndarray | None], detections: Sequence[list[DetectedLine]], probs: np.ndarray,
    rejected: np.ndarray, classify: Callable[[np.ndarray], np.ndarray],
) -> tuple[list[list[DetectedLine]], np.ndarray]:
    """Lines and their crop probabilities (concatenated in reading order over the batch), where
    every ``rejected`` crop that reads better split (a detection) or narrowed (a probe) is
    replaced by what was read there."""
    proposals: dict[int, tuple[DetectedChar, ...]] = {}
    crops = []
    k = 0
    for gray, lines in zip(grays, detections):
        for line in lines:
            for ch in line.chars:
                if rejected[k]:  # a gray is None only for an image without lines
                    boxes = _proposals(ch, probs[k], line.fit.height)
                    if boxes:
                        proposals[k] = boxes
                        crops.append(line_crops(gray, [DetectedLine(boxes, line.fit)]))
                k += 1
    if not proposals:
        return list(detections), probs
    cuts = np.cumsum([len(b) for b in proposals.values()])[:-1]
    proposal_probs = dict(zip(proposals, np.split(classify(np.concatenate(crops)), cuts)))
    out_lines, out_probs, k = [], [], 0
    for lines in detections:
        new_lines = []
        for line in lines:
            chars = []
            for ch in line.chars:
                found = _decide(ch, proposals[k], proposal_probs[k]) if k in proposals else None
                for c, p in found or [(ch, probs[k])]:
                    chars.append(c)
                    out_probs.append(p)
                k += 1
            new_lines.append(DetectedLine(tuple(chars), line.fit))
        out_lines.append(new_lines)
    return out_lines, np.array(out_probs, dtype=probs.dtype).reshape(-1, probs.shape[1])
