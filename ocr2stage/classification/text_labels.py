"""Labelling the character crops of a user's code images from the code's text alone.

Why: a user who wants the classifier to learn their own faces has photographs labelled with their
text (the layout ``bench`` reads), not a box per character. The classifier's own reading of each
crop stage 1 detects, aligned to the label by edit operations, says which crop holds which
character: a crop read right or misread takes the label's character (a misread is exactly what
fine-tuning must correct), a crop the label has no character for is taken as ``<reject>``, and a
label character that no crop holds is left out. Each label line labels the detected line that
reads closest to it; other lines (a state name, a slogan) are left out, as the label says nothing
about them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein

from ocr2stage.classification.crops import line_crops, to_gray
from ocr2stage.classification.dataset import REJECT_INDEX, CropSet
from ocr2stage.classification.net import CHARSET, CLASSES, CROP_SIZE
from ocr2stage.detection import CharDetector, DetectedLine

REJECT_SYMBOL = "\x00"
"""Stands for a crop read as ``<reject>`` in a line's reading, so that it can be aligned too."""
MAX_DISTANCE = 0.5
"""Normalised edit distance between a label line and its closest reading above which the line is
left out: the alignment would be guesswork."""


def reading(probs: np.ndarray) -> str:
    """One symbol per crop: the best class, ``REJECT_SYMBOL`` for ``<reject>``."""
    return "".join(REJECT_SYMBOL if k == REJECT_INDEX else CLASSES[k] for k in probs.argmax(axis=1))


def align_labels(read: str, text: str) -> list[int]:
    """Class index per crop of a line read as ``read`` for the label line ``text`` (no spaces):
    the label's character where the alignment pairs them, ``<reject>`` for a crop the label has no
    character for."""
    labels = [REJECT_INDEX] * len(read)
    for op in Levenshtein.opcodes(read, text):
        if op.tag in ("equal", "replace"):  # both pair crops and characters one to one
            for i in range(op.src_end - op.src_start):
                labels[op.src_start + i] = CLASSES.index(text[op.dest_start + i])
    return labels


def label_lines(reads: list[str], text: str) -> dict[int, list[int]]:
    """Detected line index -> crop labels, for the lines the label's lines are matched to.

    Each label line (spaces removed) takes the unused detected line whose characters (crops read
    as ``<reject>`` left out: stage 1's gap probes are mostly that) are closest to it by normalised
    edit distance, if within ``MAX_DISTANCE``; longer label lines choose first.
    """
    out: dict[int, list[int]] = {}
    for line in sorted(("".join(t.split()) for t in text.upper().splitlines()), key=len, reverse=True):
        free = [k for k in range(len(reads)) if k not in out]
        if not line or not free:
            continue
        distance = {k: Levenshtein.normalized_distance(reads[k].replace(REJECT_SYMBOL, ""), line) for k in free}
        best = min(free, key=distance.__getitem__)
        if distance[best] <= MAX_DISTANCE:
            out[best] = align_labels(reads[best], line)
    return out


CodeImage = tuple[str, np.ndarray | str, str]
"""``(file, RGB image or the reason it could not be read, label text)``."""


@dataclass
class CodeImages:
    """A user's labelled code images, read one at a time, and what identifies them (e.g. the
    dataset's fingerprint) so that their labelled crops can be cached."""

    identity: str
    images: Iterable[CodeImage]


@dataclass
class TextLabelled:
    """Crops labelled from code images' text, with what was left out and why."""

    crops: CropSet
    used: int
    """Images at least one line of which was labelled."""
    skipped: list[str]
    """``file: reason`` per image left out (unreadable, characters outside the charset, no line
    read close enough to the label)."""

    @property
    def images(self) -> int:
        return self.used + len(self.skipped)


def label_text(text: str) -> str | None:
    """Why the label cannot be used (a character outside the charset), or None."""
    bad = sorted({c for c in text.upper() if not c.isspace() and c not in CHARSET})
    return f"label characters {''.join(bad)!r} are not in the charset" if bad else None


def text_labelled_crops(
    detector: CharDetector,
    probabilities: Callable[[np.ndarray], np.ndarray],
    images: Iterable[CodeImage],
    progress: Callable[[int], None] | None = None,
) -> TextLabelled:
    """Stage 1 and ``probabilities`` (a classifier's) over code images, and every crop of the
    matched lines with its label. All crops of an image are read in one forward pass."""
    crops, labels, image_index, skipped, used = [], [], [], [], 0
    for i, (name, rgb, text) in enumerate(images):
        reason = rgb if isinstance(rgb, str) else label_text(text)
        # rgb is a str (why it cannot be read) only when it is the reason
        lines: list[DetectedLine] = [] if reason else detector.detect(rgb)  # type: ignore[arg-type]
        if not reason and not lines:
            reason = "stage 1 found no characters"
        if not reason:
            image_crops = line_crops(to_gray(rgb), lines)  # type: ignore[arg-type]  # as above
            probs = probabilities(image_crops)
            bounds = np.cumsum([0] + [len(line.chars) for line in lines])
            matched = label_lines([reading(probs[a:b]) for a, b in zip(bounds, bounds[1:])], text)
            for k, line_labels in matched.items():
                crops.append(image_crops[bounds[k] : bounds[k + 1]])
                labels += line_labels
                image_index += [i] * len(line_labels)
            used += bool(matched)
            reason = None if matched else "no line read close to the label"
        if reason:
            skipped.append(f"{name}: {reason}")
        if progress is not None:
            progress(1)
    m = len(labels)
    crop_set = CropSet(
        np.concatenate(crops) if crops else np.zeros((0, CROP_SIZE, CROP_SIZE), np.uint8),
        np.array(labels, np.int64),
        np.array(image_index, np.int32),
        np.zeros(m, np.int16),
        ("user",),
        0,
    )
    return TextLabelled(crop_set, used, skipped)
