"""Engine-level numbers from the per-image results table (a pure function of the table)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.metrics.latency import latency_stats
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

