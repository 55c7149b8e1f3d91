"""A second look where stage 2 found no character: merge pieces, split rejected detections, narrow the gaps.

All three are segmentation by recognition: new boxes are proposed where the first reading failed and
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
- CRAFT sometimes gives a wide character (``M``, ``W``, ``N``, a dot-matrix ``H``) two region
  peaks: one piece is rejected or both read as the character, so it is lost or doubled. Two
  neighbouring pieces are read as one box; the union replaces them when it reads surely as the
  character the pieces did read (two real ``44`` side by side read as no one character).
  Codes read: 0.898 -> 0.903 (5 fixed, none broken).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ocr2stage.classification.crops import line_crops
from ocr2stage.classification.net import CLASSES
from ocr2stage.detection import DetectedChar, DetectedLine, union_box

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
MERGE_GAP = 0.15
"""Widest gap (line heights) between two pieces of one character; they usually overlap."""
MERGE_MAX_WIDTH = 1.4
"""Widest union of two pieces (line heights): a wide ``M`` or ``W``, not two characters."""
MERGE_ACCEPT = 0.8
PROPOSAL_BUDGET = 32
"""Proposals (crops) an image's second look may read, its lines served tallest first. On dev codes
95% of images ask for fewer than 28; a plate photo asks for ~50, most on its state name and
slogan (17-20 px lines of 60-90 proposals each), hardly any on its code (a 3-proposal 70 px line)."""
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
    """The boxes (with their probabilities) that replace a rejected ``ch``, or None to keep it."""
    if ch.probe:
        w = best_window(probs)
        return None if w is None else [(boxes[w], probs[w])]
    pairs = probs.reshape(len(SPLITS), 2, -1)
    s = best_split(pairs)
    return None if s is None else list(zip(boxes[2 * s : 2 * s + 2], pairs[s]))


def union(chars: Sequence[DetectedChar]) -> DetectedChar:
    """One detection covering ``chars``."""
    return DetectedChar(union_box([c.box for c in chars]), max(c.score for c in chars))


def merge_candidates(line: DetectedLine, labels: np.ndarray) -> list[tuple[int, int]]:
    """Index pairs (i, j) of neighbouring detections (only a probe between) that may be one
    character cut in two: close, together no wider than a wide character, and one of them
    rejected or both read as the same character."""
    h = line.fit.height
    det = [i for i, c in enumerate(line.chars) if not c.probe]
    pairs = []
    for i, j in zip(det, det[1:]):
        (a0, _, a1, _), (b0, _, b1, _) = line.chars[i].box, line.chars[j].box
        close = b0 - a1 <= MERGE_GAP * h and max(a1, b1) - min(a0, b0) <= MERGE_MAX_WIDTH * h
        if close and (_REJECT in (labels[i], labels[j]) or labels[i] == labels[j]):
            pairs.append((i, j))
    return pairs


Merge = tuple[int, int, DetectedChar]
"""First and last index of two pieces, and the detection covering both."""


def accepted_merges(
    merges: Sequence[Merge], union_probs: np.ndarray, labels: np.ndarray, accept: float = MERGE_ACCEPT
) -> dict[int, tuple[int, DetectedChar, np.ndarray]]:
    """First index -> (last index, union, probabilities) of each merge whose union reads surely as
    the one character every non-rejected crop from i to j already read; overlapping: the first wins."""
    out: dict[int, tuple[int, DetectedChar, np.ndarray]] = {}
    end = -1
    for (i, j, u), p in zip(merges, union_probs):
        c = int(p.argmax())
        if i > end and c != _REJECT and p[c] >= accept and np.isin(labels[i : j + 1], (_REJECT, c)).all():
            out[i] = (j, u, p)
            end = j
    return out


Plan = tuple[list[Merge], dict[int, tuple[DetectedChar, ...]]]
"""One line's merge candidates and, per rejected crop, its split or window boxes."""


def _rebuild(line: DetectedLine, probs: np.ndarray, labels: np.ndarray, plan: Plan, new_probs: np.ndarray) -> Reading:
    """The line's characters with their probabilities once its proposals (``new_probs``, merges
    first, then splits and windows in order) are read."""
    candidates, splits = plan
    merges = accepted_merges(candidates, new_probs[: len(candidates)], labels)
    cuts = np.cumsum([len(candidates), *(len(b) for b in splits.values())])
    split_probs = dict(zip(splits, np.split(new_probs[: cuts[-1]], cuts[:-1])[1:]))
    out: Reading = []
    i = 0
    while i < len(line.chars):
        found: Reading | None = None
        if i in merges:
            j, u, p = merges[i]
            found = [(u, p)]
            i = j
        elif i in splits:
            found = _decide(line.chars[i], splits[i], split_probs[i])
        out += found or [(line.chars[i], probs[i])]
        i += 1
    return out


def _size(plan: Plan) -> int:
    return len(plan[0]) + sum(len(b) for b in plan[1].values())


def within_budget(lines: Sequence[DetectedLine], plans: list[Plan], budget: int = PROPOSAL_BUDGET) -> list[Plan]:
    """The image's plans, kept tallest line first while their proposals fit in ``budget``, the
    others emptied; the tallest line always keeps its plan."""
    out: list[Plan] = [([], {}) for _ in plans]
    used = 0
    for rank, i in enumerate(sorted(range(len(lines)), key=lambda i: -lines[i].fit.height)):
        size = _size(plans[i])
        if rank == 0 or used + size <= budget:
            out[i] = plans[i]
            used += size
    return out


def second_look(
    grays: Sequence[np.ndarray | None],
    detections: Sequence[list[DetectedLine]],
    probs: np.ndarray,
    labels: np.ndarray,
    classify: Callable[[np.ndarray], np.ndarray],
    budget: int = PROPOSAL_BUDGET,
) -> tuple[list[list[DetectedLine]], np.ndarray]:
    """Lines and their crop probabilities (concatenated in reading order over the batch), given
    each crop's first ``labels``: neighbouring pieces that read better as one character are
    merged, and every rejected crop that reads better split (a detection) or narrowed (a probe)
    is replaced by what was read there. All proposals of the batch are read in one call; each
    image gets about ``budget`` of them (see :func:`within_budget`)."""
    plans: list[Plan] = []
    crops, sizes, k = [], [], 0
    for gray, lines in zip(grays, detections):
        image_plans = []
        for line in lines:  # a gray is None only for an image without lines
            n, h = len(line.chars), line.fit.height
            lab, p = labels[k : k + n], probs[k : k + n]
            merges = [(i, j, union(line.chars[i : j + 1])) for i, j in merge_candidates(line, lab)]
            splits = {i: b for i in np.flatnonzero(lab == _REJECT) if (b := _proposals(line.chars[i], p[i], h))}
            image_plans.append((merges, splits))
            k += n
        for line, plan in zip(lines, within_budget(lines, image_plans, budget)):
            merges, splits = plan
            boxes = [u for _, _, u in merges] + [b for bs in splits.values() for b in bs]
            if boxes:
                assert gray is not None  # the image has lines
                crops.append(line_crops(gray, [DetectedLine(tuple(boxes), line.fit)]))
            plans.append(plan)
            sizes.append(len(boxes))
    if not crops:
        return list(detections), probs
    per_line = iter(zip(plans, np.split(classify(np.concatenate(crops)), np.cumsum(sizes)[:-1])))
    out_lines, out_probs, k = [], [], 0
    for lines in detections:
        new_lines = []
        for line in lines:
            plan, new_probs = next(per_line)
            n = len(line.chars)
            reading = _rebuild(line, probs[k : k + n], labels[k : k + n], plan, new_probs)
            new_lines.append(DetectedLine(tuple(c for c, _ in reading), line.fit))
            out_probs += [p for _, p in reading]
            k += n
        out_lines.append(new_lines)
    return out_lines, np.array(out_probs, dtype=probs.dtype).reshape(-1, probs.shape[1])
