"""Per-engine figures with their uncertainty, and paired tests between engines or runs.

Everything is derived from the stored per-image rows (the results table), never from an engine:
accuracy and CER with bootstrap intervals, latency via ``bench.metrics.latency``, and an exact
McNemar test wherever two sets of outcomes cover the same images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard

import numpy as np
import pandas as pd

from bench.metrics.latency import latency_stats
from bench.metrics.significance import Interval, McNemar, mcnemar_exact, mean_ci, proportion_ci
from bench.report.load import Run

ALPHA = 0.05
"""Significance level of every "the gap is significant" sentence."""


@dataclass(frozen=True)
class EngineStats:
    """What the report says about one engine of one run."""

    engine: str
    label: str
    status: str
    """"ok", or why the engine has no (or only partial) results."""
    n: int
    n_errors: int
    accuracy: Interval
    cer: Interval
    latency: dict[str, float | None]
    load_s: float | None
    info: dict[str, Any]
    char_metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def has_results(self) -> bool:
        return self.n > 0


def _edits(rows: pd.DataFrame) -> pd.DataFrame:
    """Per file: edits and truth length, the two sums a corpus CER is made of."""
    rows = rows.drop_duplicates("file")
    return pd.DataFrame(
        {
            "edits": pd.to_numeric(rows["edits"], errors="coerce").fillna(0).to_numpy(dtype=float),
            "length": rows["truth"].str.len().to_numpy(dtype=float),
        },
        index=rows["file"].to_numpy(),
    )


def _cer_interval(rows: pd.DataFrame) -> Interval:
    """Corpus CER (total edits / total truth characters) with a bootstrap interval."""
    e = _edits(rows)
    return mean_ci(e["edits"], e["length"])


def cer_difference(a_rows: pd.DataFrame, b_rows: pd.DataFrame) -> Interval:
    """CER of A minus CER of B on their common images; images are resampled as pairs.

    Why paired: two engines' CERs on the same images are correlated (hard images are hard for
    both), so separate intervals overlap even when the difference itself is clearly not zero.
    """
    a, b = _edits(a_rows), _edits(b_rows)
    common = a.index.intersection(b.index)
    return mean_ci(a.loc[common, "edits"] - b.loc[common, "edits"], a.loc[common, "length"])


CHAR_METRICS = ("char_recall", "char_precision", "chars_merged", "chars_split")


def engine_stats(run: Run, engine: str) -> EngineStats:
    rows = run.rows(engine)
    record = run.record(engine)
    n_errors = int(rows["error"].notna().sum())
    if record.get("error"):
        status = f"failed to load: {record['error']}"
    elif rows.empty:
        status = "no results"
    elif n_errors == len(rows):
        status = "every image failed"
    else:
        status = "ok"
    metrics = run.metrics(engine)
    return EngineStats(
        engine=engine,
        label=run.label(engine),
        status=status,
        n=len(rows),
        n_errors=n_errors,
        accuracy=proportion_ci(rows["correct"].to_numpy(dtype=bool)),
        cer=_cer_interval(rows),
        latency=latency_stats(rows["latency_ms"].dropna().tolist()),
        load_s=record.get("load_s"),
        info=run.info(engine),
        char_metrics={k: metrics.get(k) for k in CHAR_METRICS},
    )


def outcomes_by_file(rows: pd.DataFrame) -> pd.Series:
    """``correct`` per file (an image error counts as not correct)."""
    return rows.drop_duplicates("file").set_index("file")["correct"].astype(bool)


def paired_test(a_rows: pd.DataFrame, b_rows: pd.DataFrame) -> McNemar:
    """Exact McNemar test on the images both sets of rows cover."""
    a, b = outcomes_by_file(a_rows), outcomes_by_file(b_rows)
    common = a.index.intersection(b.index)
    return mcnemar_exact(a.loc[common].to_numpy(), b.loc[common].to_numpy())


def significant(test: McNemar) -> bool:
    return test.p_value < ALPHA


def pairwise_tests(run: Run, engines: list[str]) -> dict[tuple[str, str], McNemar]:
    """McNemar between every ordered pair of engines with results, on their common images."""
    return {(a, b): paired_test(run.rows(a), run.rows(b)) for a in engines for b in engines if a != b}


def stored_share_ci(n: int, share: float | None) -> Interval:
    """Interval of a stored accuracy over n images: the bootstrap depends only on n and the count.

    So a summary's per-slice figures get their intervals without regrouping the rows.
    """
    if not n or share is None:
        return proportion_ci([])
    return proportion_ci(np.arange(n) < round(share * n))


def ratio(a: float | None, b: float | None) -> float:
    """a / b, nan when either is missing or b is 0 (for "x times faster")."""
    if a is None or b is None or not b:
        return float("nan")
    return float(a) / float(b)


def finite(x: float | None) -> TypeGuard[float]:
    return x is not None and bool(np.isfinite(x))
