"""One function per report section: a run in, plain data (sentences, rows, chart URIs) out.

The template only lays these out; every judgement (who wins, is it significant, what is
missing) is made here, in Python, where it can be tested.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.metrics.risk import (
    MAX_MISREADS,
    operating_points,
    reliability,
    risk_coverage,
)
from bench.metrics.significance import McNemar
from bench.metrics.summary import misread_inputs
from bench.metrics.text import FAILURES, char_error_table, confusion_pairs
from bench.report import plots
from bench.report.fmt import char, ci, ms, pct, pvalue
from bench.report.load import Run
from bench.report.stats import (
    EngineStats,
    cer_difference,
    finite,
    pairwise_tests,
    ratio,
    significant,
    stored_share_ci,
)

FAILURE_CLASSES = (*FAILURES, "error")
"""The results table's ``failure`` column: a string-level class, or "error" when the engine raised."""
CONFUSION_TOP = 15


def _gap_sentence(w: EngineStats, o: EngineStats, test: McNemar) -> str:
    gap = w.accuracy.estimate - o.accuracy.estimate
    head = (
        f"{w.label} reads {pct(w.accuracy.estimate)} {ci(w.accuracy)} of codes exactly, "
        f"{o.label} {pct(o.accuracy.estimate)} {ci(o.accuracy)}"
    )
    evidence = f"McNemar {pvalue(test.p_value)}, {test.n:,} paired images"
    if gap == 0:
        return f"{head}: a tie ({evidence})."
    verdict = "significant" if significant(test) else "not significant, the two cannot be told apart on this set"
    return f"{head}; the gap of {100 * gap:.1f} points is {verdict} ({evidence})."


def _cer_gap(best: EngineStats, o: EngineStats, run: Run) -> str:
    """Another engine's CER and its paired difference to the best, real when its CI excludes 0."""
    d = cer_difference(run.rows(o.engine), run.rows(best.engine))
    real = "a real difference" if d.low > 0 else "not a clear difference"
    return (f"{o.label} {pct(o.cer.estimate, 2)}, {100 * d.estimate:+.2f} points "
            f"(paired 95% CI {100 * d.low:+.2f} to {100 * d.high:+.2f}: {real})")


def findings(stats: list[EngineStats], run: Run) -> list[str]:
    """The decision summary: one plain sentence per finding, winner first."""
    ran = sorted((s for s in stats if s.has_results), key=lambda s: -s.accuracy.estimate)
    out = [f"{s.label}: {s.status}." for s in stats if not s.has_results]
    if not ran:
        return out + ["No engine produced results, so there is nothing to compare."]
    best = ran[0]
    if len(ran) == 1:
        out.insert(0, f"Only {best.label} produced results: it reads {pct(best.accuracy.estimate)} "
                      f"{ci(best.accuracy)} of {best.n:,} {'code' if best.n == 1 else 'codes'} exactly.")
        return out
    tests = pairwise_tests(run, [s.engine for s in ran])
    lines = [_gap_sentence(best, o, tests[(best.engine, o.engine)]) for o in ran[1:]]
    if best.accuracy.estimate == 0:
        lines.insert(0, "No engine read a single code exactly: compare on CER below, and check that the "
                        "dataset's readout and normalisation (manifest.json) fit these images.")
    by_cer = sorted(ran, key=lambda s: s.cer.estimate)
    lines.append(
        f"Lowest character error rate: {by_cer[0].label} with {pct(by_cer[0].cer.estimate, 2)} "
        f"{ci(by_cer[0].cer, 2)}; " + "; ".join(_cer_gap(by_cer[0], o, run) for o in by_cer[1:]) + "."
    )
    timed = sorted((s for s in ran if finite(s.latency["p50_ms"])), key=lambda s: s.latency["p50_ms"])
    if len(timed) > 1:
        fast, slow = timed[0], timed[-1]
        lines.append(
            f"Fastest: {fast.label}, median {ms(fast.latency['p50_ms'])} per image (p95 {ms(fast.latency['p95_ms'])}), "
            f"{ratio(slow.latency['p50_ms'], fast.latency['p50_ms']):.1f}x faster than the slowest, {slow.label} "
            f"({ms(slow.latency['p50_ms'])})."
        )
        if best.engine != fast.engine:
            lines.append(
                f"{best.label}, the most accurate, needs {ratio(best.latency['p50_ms'], fast.latency['p50_ms']):.1f}x "
                f"the median time of {fast.label}."
            )
    partial = [s for s in ran if s.n_errors]
    lines += [f"{s.label} failed on {s.n_errors:,} of {s.n:,} images (counted as misread)." for s in partial]
    return lines + out


def _limit(max_misread: float) -> str:
    return f"{100 * max_misread:g}%"


def misreads(run: Run, stats: list[EngineStats], colors: dict[str, str]) -> dict[str, Any]:
    """Misreads against no-reads: per engine the risk-coverage curve, the cross-fitted operating
    points and calibration, from the stored confidences; one decision sentence per operating point."""
    engines = []
    for s in stats:
        inputs = misread_inputs(run.rows(s.engine)) if s.has_results else None
        if inputs is None:
            continue
        outcome, confidence, first = inputs
        engines.append({"stats": s, "curve": risk_coverage(outcome, confidence),
                        "reliability": reliability(outcome, confidence),
                        "points": operating_points(outcome, confidence, first)})
    if not engines:
        return {}
    sentences = []
    for k, limit in enumerate(MAX_MISREADS):
        ranked = sorted(engines, key=lambda e: -e["points"][k].read_rate.estimate)
        reads = [f"{e['stats'].engine} {pct(e['points'][k].read_rate.estimate)} {ci(e['points'][k].read_rate)}"
                 for e in ranked]
        reads[0] = reads[0].replace(" ", " reads ", 1)
        over = [f"{e['stats'].engine} {pct(e['points'][k].misread_rate)}" for e in ranked
                if e["points"][k].misread_rate > limit]
        caveat = (f" Held out, the accepted codes were misread more often than that ({', '.join(over)}): "
                  "too few images to choose a threshold for this limit." if over else "")
        sentences.append(f"At <= {_limit(limit)} misreads (threshold chosen on the other half of the images): "
                         f"{', '.join(reads)}.{caveat}")
    curves = {e["stats"].engine: (e["curve"].read_rate, e["curve"].misread_rate) for e in engines}
    points = {e["stats"].engine: [(p.read_rate.estimate, p.misread_rate) for p in e["points"]] for e in engines}
    diagrams = {e["stats"].engine: (e["reliability"].edges, e["reliability"].count, e["reliability"].accuracy,
                                    e["reliability"].ece) for e in engines}
    return {
        "limits": [_limit(t) for t in MAX_MISREADS],
        "engines": engines,
        "sentences": sentences,
        "curves": plots.risk_coverage(curves, points, colors, MAX_MISREADS),
        "reliability": plots.reliability_diagrams(diagrams, colors),
    }


def pairwise_table(stats: list[EngineStats], run: Run) -> dict[str, Any]:
    """Matrix of McNemar p-values with who wins each pair, for the decision section."""
    ran = [s for s in stats if s.has_results]
    tests = pairwise_tests(run, [s.engine for s in ran])
    cells = {
        pair: {
            "p": pvalue(t.p_value),
            "significant": significant(t),
            "better": t.only_a > t.only_b,
            "detail": f"alone right on {t.only_a:,}, alone wrong on {t.only_b:,} of {t.n:,}",
        }
        for pair, t in tests.items()
    }
    return {"engines": ran, "cells": cells}


def scatter(stats: list[EngineStats], colors: dict[str, str]) -> str | None:
    pts = pd.DataFrame(
        [
            {"engine": s.engine, "p50_ms": s.latency["p50_ms"], "acc": s.accuracy.estimate,
             "acc_low": s.accuracy.low, "acc_high": s.accuracy.high}
            for s in stats
            if s.has_results and finite(s.latency["p50_ms"]) and s.latency["p50_ms"] > 0
        ]
    )
    return None if pts.empty else plots.accuracy_vs_latency(pts, colors)


def latency_plot(run: Run, stats: list[EngineStats], colors: dict[str, str]) -> str | None:
    lat = {s.engine: run.rows(s.engine)["latency_ms"].dropna().to_numpy() for s in stats if s.has_results}
    lat = {e: v[v > 0] for e, v in lat.items() if (v > 0).any()}
    return plots.latency_boxes(lat, colors) if lat else None


def slices(run: Run, stats: list[EngineStats], colors: dict[str, str]) -> list[dict[str, Any]]:
    """Accuracy per slice value per engine, as the summary stored it (meta columns and code length).

    The interval needs only n and the share right (see ``stored_share_ci``), so it is derived
    from the stored figures rather than by regrouping the rows.
    """
    stored = {s.engine: run.slices(s.engine) for s in stats if s.has_results}
    out = []
    for col in dict.fromkeys(col for per_engine in stored.values() for col in per_engine):
        cells = [
            {"group": value, "engine": engine, "n": m["n"], "iv": stored_share_ci(m["n"], m.get("sequence_accuracy"))}
            for engine, per_engine in stored.items()
            for value, m in per_engine.get(col, {}).items()
        ]
        frame = pd.DataFrame(
            [{"group": c["group"], "engine": c["engine"], "value": c["iv"].estimate, "low": c["iv"].low,
              "high": c["iv"].high} for c in cells]
        )
        values = sorted(dict.fromkeys(c["group"] for c in cells))
        rows = [
            {
                "value": v,
                "n": max(c["n"] for c in cells if c["group"] == v),
                "cells": {c["engine"]: c["iv"] for c in cells if c["group"] == v},
            }
            for v in values
        ]
        chart = plots.grouped_bars(frame, colors, "sequence accuracy, % (95% CI)") if cells else None
        out.append({"column": col, "chart": chart, "rows": rows})
    return out


def characters(run: Run, stats: list[EngineStats]) -> dict[str, Any]:
    """Per truth character error rate per engine, and each engine's top substitutions."""
    ran = [s for s in stats if s.has_results]
    if not ran:
        return {}
    rates, counts, confusions = {}, None, []
    for s in ran:
        pairs = list(zip(run.rows(s.engine)["truth"], run.rows(s.engine)["prediction"]))
        table = char_error_table(pairs).set_index("char").drop(index="<ins>", errors="ignore")
        rates[s.engine] = table["error_rate"] * 100
        counts = table["count"] if counts is None else counts.combine(table["count"], max, fill_value=0)
        conf = confusion_pairs(pairs, top=CONFUSION_TOP)
        if not conf.empty:
            matrix = conf.pivot_table(index="truth", columns="pred", values="count", aggfunc="sum", fill_value=0)
            matrix = matrix.rename(index=char, columns=char)
            confusions.append(
                {
                    "label": s.label,
                    "chart": plots.heatmap(matrix, s.engine, "read as", "truth"),
                    "top": [(char(r.truth), char(r.pred), int(r.count)) for r in conf.head(8).itertuples()],
                }
            )
    rate = pd.DataFrame(rates)
    rate = rate[rate.fillna(0).max(axis=1) > 0] if len(rate) > 40 else rate
    rate.index = [f"{char(c)}\n{int(counts[c])}" for c in rate.index]
    chart = (
        plots.heatmap(rate.T, "error rate per truth character, %", "truth character (occurrences below)", "", fmt="{:.0f}")
        if not rate.empty
        else None
    )
    return {"chart": chart, "confusions": confusions}


def failures(run: Run, stats: list[EngineStats]) -> dict[str, Any]:
    """How each engine misses: string-level failure classes plus box-level char metrics."""
    ran = [s for s in stats if s.has_results]
    if not ran:
        return {}
    rows = run.results[run.results["engine"].isin([s.engine for s in ran])]
    counts = pd.crosstab(rows["engine"], rows["failure"]).reindex(index=[s.engine for s in ran], columns=FAILURE_CLASSES, fill_value=0)
    return {
        "classes": FAILURE_CLASSES,
        "counts": {e: counts.loc[e].to_dict() for e in counts.index},
        "chart": plots.stacked_failures(counts, FAILURE_CLASSES),
    }


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flat(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_flat(v) for v in value) or "-"
    return "-" if value is None else str(value)


def reproducibility(run: Run) -> list[tuple[str, str]]:
    """Everything run.json recorded (command, dataset + fingerprint, machine, code), verbatim."""
    items = [(k, _flat(v)) for k, v in run.run.items()]
    if run.summary.get("finished"):
        items.append(("finished", str(run.summary["finished"])))
    return items
