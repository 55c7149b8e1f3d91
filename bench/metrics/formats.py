"""Readings with and without formats: sequence accuracy, read-right / misread / no-read, and what
each format and check rejected (pure functions of the results table's format columns).

Why the split and not accuracy alone: a format turns some wrong readings into right ones and
others into no-reads; on a production line a misread (a wrong code accepted) ships a wrong part
while a no-read stops for a look, so the misread count leads.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.metrics.risk import Outcome, outcomes


def outcome_counts(correct: pd.Series, returned: pd.Series) -> dict[str, Any]:
    """Counts and shares of all images read right, misread and not read (:func:`outcomes`)."""
    codes = outcomes(correct.to_numpy(bool), returned.to_numpy(bool))
    n = len(codes)
    out: dict[str, Any] = {"n": n}
    for name, code in (("read_right", Outcome.READ), ("misread", Outcome.MISREAD), ("no_read", Outcome.NO_READ)):
        k = int((codes == code).sum())
        out[name] = k
        out[f"{name}_rate"] = k / n if n else None
    return out


def format_metrics(rows: pd.DataFrame) -> dict[str, Any]:
    """One engine's rows that have a format: raw and constrained outcomes side by side, and per
    format what it rejected of the raw readings (wrong ones: gained no-reads instead of misreads;
    right ones: lost reads)."""
    rows = rows[rows["format"].notna()]
    if not len(rows):
        return {}
    raw_returned = (rows["prediction"].fillna("") != "") & rows["error"].isna()
    constrained_correct = rows["constrained"].notna() & (rows["constrained"] == rows["truth"])
    out: dict[str, Any] = {
        "raw": outcome_counts(rows["correct"], raw_returned),
        "constrained": outcome_counts(constrained_correct, rows["constrained"].notna()),
        "raw_sequence_accuracy": float(rows["correct"].mean()),
        "constrained_sequence_accuracy": float(constrained_correct.mean()),
        "no_read_reasons": {str(k): int(v) for k, v in rows["format_reason"].value_counts().items()},
        "per_format": {},
    }
    for name, group in rows.groupby("format", sort=True):
        rejected = group["raw_format_reason"].notna() & (group["prediction"].fillna("") != "")
        fit_rejected = rejected & ~group["raw_format_reason"].fillna("").str.contains("check")
        check_rejected = rejected & ~fit_rejected
        ok = group["correct"].astype(bool)
        out["per_format"][str(name)] = {
            "n": len(group),
            "format_rejected_wrong": int((fit_rejected & ~ok).sum()),
            "format_rejected_right": int((fit_rejected & ok).sum()),
            "check_rejected_wrong": int((check_rejected & ~ok).sum()),
            "check_rejected_right": int((check_rejected & ok).sum()),
            "raw_accuracy": float(ok.mean()),
            "constrained_accuracy": float(
                (group["constrained"].notna() & (group["constrained"] == group["truth"])).mean()
            ),
        }
    return out
