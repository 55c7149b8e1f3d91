"""This run against another (a baseline): deltas per engine and per slice, paired on common images.

Only images present in both runs are compared, so a run on a larger or re-ordered set still
gives a fair, paired verdict; a different dataset fingerprint is called out, not hidden.
"""

from __future__ import annotations

from typing import Any

from bench.report.fmt import pct, pvalue
from bench.report.load import META_PREFIX, Run
from bench.report.stats import engine_stats, outcomes_by_file, paired_test, significant


def _delta_row(key: str, a_rows: Any, b_rows: Any) -> dict[str, Any] | None:
    """Accuracy of A and B on their common images, the difference and its McNemar test."""
    a, b = outcomes_by_file(a_rows), outcomes_by_file(b_rows)
    common = a.index.intersection(b.index)
    if common.empty:
        return None
    test = paired_test(a_rows, b_rows)
    acc_a, acc_b = float(a.loc[common].mean()), float(b.loc[common].mean())
    return {
        "key": key,
        "n": len(common),
        "a": acc_a,
        "b": acc_b,
        "delta": acc_a - acc_b,
        "test": test,
        "p": pvalue(test.p_value),
        "significant": significant(test),
    }


def _sentence(label: str, d: dict[str, Any], a_name: str, b_name: str) -> str:
    if d["delta"] == 0:
        change = "unchanged"
    else:
        change = f"{'better' if d['delta'] > 0 else 'worse'} by {abs(100 * d['delta']):.1f} points"
    verdict = "significant" if d["significant"] else "not significant"
    return (
        f"{label}: {pct(d['a'])} in {a_name} against {pct(d['b'])} in {b_name}, {change} "
        f"on {d['n']:,} common images; {verdict} (McNemar {d['p']})."
    )


def compare(a: Run, b: Run) -> dict[str, Any]:
    """Per-engine and per-slice deltas of run ``a`` against run ``b``."""
    notes = []
    fa, fb = a.dataset.get("fingerprint"), b.dataset.get("fingerprint")
    if fa != fb:
        notes.append(
            f"The runs are on different data (fingerprint {fa or 'n/a'} vs {fb or 'n/a'}): "
            "only images with the same file name are paired."
        )
    common = [e for e in a.engines if e in b.engines and not a.rows(e).empty and not b.rows(e).empty]
    only = sorted(set(a.engines) ^ set(b.engines))
    if only:
        notes.append("Engines in only one of the runs (not compared): " + ", ".join(only) + ".")
    engines, sentences = [], []
    for e in common:
        d = _delta_row(e, a.rows(e), b.rows(e))
        if d is None:
            notes.append(f"{a.label(e)}: no image in common between the runs.")
            continue
        sa, sb = engine_stats(a, e), engine_stats(b, e)
        d.update(
            label=a.label(e),
            label_b=b.label(e),
            cer_a=sa.cer.estimate,
            cer_b=sb.cer.estimate,
            p50_a=sa.latency["p50_ms"],
            p50_b=sb.latency["p50_ms"],
        )
        engines.append(d)
        sentences.append(_sentence(a.label(e), d, a.name, b.name))
        if a.label(e) != b.label(e):
            notes.append(f"{e} is labelled differently: {a.label(e)} here, {b.label(e)} in {b.name}.")
    slices = []
    for col in [c for c in a.slice_columns if c in b.results.columns]:
        rows = []
        for value in sorted(a.results[col].dropna().astype(str).unique()):
            for e in common:
                ra = a.rows(e)
                d = _delta_row(value, ra[ra[col].astype(str) == value], b.rows(e))
                if d is not None:
                    rows.append({**d, "label": a.label(e)})
        slices.append({"column": col.removeprefix(META_PREFIX), "rows": rows})
    return {"a": a.name, "b": b.name, "notes": notes, "sentences": sentences, "engines": engines, "slices": slices}
