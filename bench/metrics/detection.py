"""Character-box metrics, for datasets and engines that both have per-character boxes.

They tell a detection miss from a classification miss: a merged box (two characters read as one)
or a split one (one character cut in two) is the detector's fault, whatever the classifier says.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BoxT = Sequence[float]


def _overlap(a: Sequence[BoxT], b: Sequence[BoxT]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersection areas [len(a), len(b)] and the areas of ``a`` and ``b`` broadcast to match."""
    A, B = np.asarray(a, float)[:, None, :], np.asarray(b, float)[None, :, :]
    iw = np.clip(np.minimum(A[..., 2], B[..., 2]) - np.maximum(A[..., 0], B[..., 0]), 0, None)
    ih = np.clip(np.minimum(A[..., 3], B[..., 3]) - np.maximum(A[..., 1], B[..., 1]), 0, None)
    area_a = (A[..., 2] - A[..., 0]) * (A[..., 3] - A[..., 1])
    area_b = (B[..., 2] - B[..., 0]) * (B[..., 3] - B[..., 1])
    return iw * ih, area_a, area_b


def iou_matrix(a: Sequence[BoxT], b: Sequence[BoxT]) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b`` (x0, y0, x1, y1)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    inter, area_a, area_b = _overlap(a, b)
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def char_box_counts(truth: Sequence[BoxT], pred: Sequence[BoxT], iou: float = 0.5) -> dict[str, int]:
    """Greedy one-to-one matching at IoU >= ``iou``, plus merged and split characters.

    merged: predicted boxes that hold half or more of two or more truth characters each;
    split: truth characters that hold half or more of two or more predicted boxes each.
    """
    n_t, n_p = len(truth), len(pred)
    out = {"truth_chars": n_t, "pred_chars": n_p, "matched": 0, "merged": 0, "split": 0}
    if not n_t or not n_p:
        return out
    m = iou_matrix(truth, pred)
    used_t, used_p = set(), set()
    for flat in np.argsort(-m, axis=None):
        i, j = divmod(int(flat), n_p)
        if m[i, j] < iou:
            break
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
    out["matched"] = len(used_t)
    inter, area_t, area_p = _overlap(truth, pred)
    truth_in_pred = inter / np.maximum(area_t, 1e-9) >= 0.5  # [t, p]: truth char t mostly in box p
    out["merged"] = int((truth_in_pred.sum(axis=0) >= 2).sum())
    pred_in_truth = inter / np.maximum(area_p, 1e-9) >= 0.5  # [t, p]: box p mostly in truth char t
    out["split"] = int((pred_in_truth.sum(axis=1) >= 2).sum())
    return out
