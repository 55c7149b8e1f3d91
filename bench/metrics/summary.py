"""Engine-level numbers from the per-image results table (a pure function of the table)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.metrics.latency import latency_stats
from bench.metrics.risk import (
    halves,
    operating_points,
    outcomes,
    reliability,
    risk_coverage,
)
from bench.metrics.text import FAILURES

SLICE_MAX_VALUES = 50
"""A metadata column with more distinct values than this is an identifier, not a slice."""


def engine_metrics(rows: pd.DataFrame) -> dict[str, Any]:
    """Accuracy, CER, failure classes, latency and character-box numbers for one engine's rows."""
    n = len(rows)
    out: dict[str, Any] = {
        "n": n,
        "n_errors": int(rows["error"].notna().sum()),
        "sequence_accuracy": float(rows["correct"].mean()) if n else None,
        "cer": float(rows["edits"].sum() / max(rows["truth"].str.len().sum(), 1)) if n else None,
        "failures": {k: int((rows["failure"] == k).sum()) for k in FAILURES},
        **latency_stats(rows["latency_ms"].dropna().tolist()),
    }
    boxed = rows.dropna(subset=["chars_matched"])
    if len(boxed):
        out.update(
            char_recall=float(boxed["chars_matched"].sum() / max(boxed["chars_truth"].sum(), 1)),
            char_precision=float(boxed["chars_matched"].sum() / max(boxed["chars_pred"].sum(), 1)),
            chars_merged=int(boxed["chars_merged"].sum()),
            chars_split=int(boxed["chars_split"].sum()),
        )
    else:
        out.update(char_recall=None, char_precision=None, chars_merged=None, chars_split=None)
    return out


def misread_inputs(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per image of one engine: :func:`~bench.metrics.risk.outcomes` (a code is returned when it is
    non-empty and the engine did not fail), code-level confidence and cross-fitting half; None when
    the rows have no ``confidence`` column (a table built before confidences were kept)."""
    if "confidence" not in rows:
        return None
    returned = rows["prediction"].fillna("").astype(str).ne("") & rows["error"].isna()
    confidence = pd.to_numeric(rows["confidence"], errors="coerce").to_numpy(dtype=float)
    if returned.any() and np.isnan(confidence[returned.to_numpy()]).all():
        return None  # no confidence recovered (predictions gone): nothing to threshold
    outcome = outcomes(rows["correct"].to_numpy(dtype=bool), returned.to_numpy())
    return outcome, confidence, halves(rows["file"].astype(str).tolist())


def _threshold(t: float) -> float | str:
    """A threshold for JSON, which has no infinities: "all" accepts every code, "none" none."""
    return t if np.isfinite(t) else "all" if t < 0 else "none"


def misread_metrics(rows: pd.DataFrame) -> dict[str, Any] | None:
    """Read rate at each misread limit (cross-fitted, 95% bootstrap interval), AURC and ECE of one
    engine's rows, for summary.json; None without confidences. Engine-level only: slices are too
    small for thresholds at 1% or 0.1%."""
    inputs = misread_inputs(rows)
    if inputs is None or not len(rows):
        return None
    outcome, confidence, first = inputs
    curve = risk_coverage(outcome, confidence)
    return {
        "read_rate_unthresholded": float(curve.read_rate[-1]) if curve.read_rate.size else 0.0,
        "misread_rate_unthresholded": float(curve.misread_rate[-1]) if curve.misread_rate.size else None,
        "aurc": curve.aurc,
        "ece": reliability(outcome, confidence).ece,
        "operating_points": [
            {
                "max_misread": p.max_misread,
                "read_rate": p.read_rate.estimate,
                "low": p.read_rate.low,
                "high": p.read_rate.high,
                "misread_rate": p.misread_rate,
                "misreads": p.misreads,
                "thresholds": [_threshold(t) for t in p.thresholds],
                "threshold": _threshold(p.threshold),
            }
            for p in operating_points(outcome, confidence, first)
        ],
    }


def slice_columns(table: pd.DataFrame) -> list[str]:
    """Metadata columns (``meta.*``) with few distinct string values: style, kind, source..."""
    cols = []
    for c in table.columns:
        if c.startswith("meta.") and (table[c].dtype == object or pd.api.types.is_string_dtype(table[c])):
            values = table[c].dropna()
            if len(values) and values.map(type).eq(str).all() and values.nunique() <= SLICE_MAX_VALUES:
                cols.append(c)
    return cols


def sliced_metrics(rows: pd.DataFrame, columns: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{column: {value: metrics}}`` for one engine; adds code length as a slice."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    rows = rows.assign(**{"meta.length": rows["truth"].str.len().map(length_bucket)})
    for col in [*columns, "meta.length"]:
        out[col.removeprefix("meta.")] = {
            str(value): engine_metrics(group) for value, group in rows.groupby(col, dropna=True, sort=True)
        }
    return out


def length_bucket(n: int) -> str:
    """The code-length slice a truth of ``n`` characters falls in (shared with baselines)."""
    edges = [(0, 4), (5, 8), (9, 12), (13, 16)]
    for lo, hi in edges:
        if lo <= n <= hi:
            return f"{lo:02d}-{hi:02d}"
    return "17+"
