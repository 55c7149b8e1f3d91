"""One function per report section: a run in, plain data (sentences, rows, chart URIs) out.

The template only lays these out; every judgement (who wins, is it significant, what is
missing) is made here, in Python, where it can be tested.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pandas as pd

from bench.metrics.risk import (
    MAX_MISREADS,
    OperatingPoint,
    Reliability,
    RiskCoverage,
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
from bench.report.provenance import GENERATOR, HomeAdvantage, home_advantage
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


def _comparison(w: EngineStats, o: EngineStats, test: McNemar, run: Run) -> str:
    """The most accurate engine against one other, in one sentence: codes read exactly (paired
    McNemar) and CER (paired bootstrap difference)."""
    gap = w.accuracy.estimate - o.accuracy.estimate
    head = (
        f"{w.engine} against {o.engine}: {pct(w.accuracy.estimate)} {ci(w.accuracy)} of codes read exactly "
        f"against {pct(o.accuracy.estimate)} {ci(o.accuracy)}"
    )
    evidence = f"McNemar {pvalue(test.p_value)}, {test.n:,} paired images"
    if gap == 0:
        accuracy = f"{head}, a tie ({evidence})"
    else:
        verdict = "significant" if significant(test) else "not significant, the two cannot be told apart on this set"
        accuracy = f"{head}; the gap of {100 * gap:.1f} points is {verdict} ({evidence})"
    d = cer_difference(run.rows(o.engine), run.rows(w.engine))
    real = "a real difference" if d.low > 0 or d.high < 0 else "not a clear difference"
    side = "higher" if d.estimate >= 0 else "lower"
    return (
        f"{accuracy}; CER {pct(w.cer.estimate, 2)} against {pct(o.cer.estimate, 2)}, {o.engine}'s "
        f"{100 * abs(d.estimate):.2f} points {side} (paired 95% CI {100 * d.low:+.2f} to {100 * d.high:+.2f}: "
        f"{real})."
    )


def _p50(s: EngineStats) -> float:
    p50 = s.latency["p50_ms"]
    assert p50 is not None  # only engines with a finite median time are sorted by it
    return p50


def _speed(ran: list[EngineStats], best: EngineStats) -> str | None:
    """Median time per image of every timed engine, as a multiple of the fastest's."""
    timed = sorted((s for s in ran if finite(s.latency["p50_ms"])), key=_p50)
    if len(timed) < 2:
        return None
    fast = timed[0]
    others = ", ".join(
        f"{s.engine}{' (the most accurate)' if s is best else ''} "
        f"{ratio(s.latency['p50_ms'], fast.latency['p50_ms']):.1f}x that"
        for s in timed[1:]
    )
    return (
        f"Fastest: {fast.engine}, median {ms(fast.latency['p50_ms'])} per image "
        f"(p95 {ms(fast.latency['p95_ms'])}); {others}."
    )


def _home_advantage(home: HomeAdvantage, run: Run, alone: bool) -> str:
    generator = (run.run.get("manifest") or {}).get("generator") or {}
    seeds = ", ".join(str(s) for s in home.seeds)
    overlap = (
        "the same seed as this set: it may have seen these very images"
        if home.same_seed
        else f"this set's seed is {generator.get('seed')}, so no image is shared"
    )
    others = "; no other engine here records training on it" if alone else ""
    return (
        f"Home advantage: {home.engine} was trained on {home.n_images:,} images from {GENERATOR}, the generator "
        f"that rendered this set ({generator.get('recipe')}; training seed {seeds}, {overlap}){others}. "
        f"Its accuracy here may overstate what it reads on codes from elsewhere."
    )


def findings(stats: list[EngineStats], run: Run) -> list[str]:
    """The decision summary in short engine names (the labels are in the Engines table): one
    bullet per comparison, the most accurate engine against each other, then home advantage,
    speed and failures."""
    ran = sorted((s for s in stats if s.has_results), key=lambda s: -s.accuracy.estimate)
    out = [f"{s.engine}: {s.status}." for s in stats if not s.has_results]
    if not ran:
        return out + ["No engine produced results, so there is nothing to compare."]
    homes = [h for h in (home_advantage(run, s.engine) for s in ran) if h is not None]
    home = [_home_advantage(h, run, alone=len(homes) == 1) for h in homes]
    best = ran[0]
    if len(ran) == 1:
        return [
            f"Only {best.engine} produced results: it reads {pct(best.accuracy.estimate)} "
            f"{ci(best.accuracy)} of {best.n:,} {'code' if best.n == 1 else 'codes'} exactly.",
            *home,
            *out,
        ]
    tests = pairwise_tests(run, [s.engine for s in ran])
    lines = [_comparison(best, o, tests[(best.engine, o.engine)], run) for o in ran[1:]]
    if best.accuracy.estimate == 0:
        lines.insert(
            0,
            "No engine read a single code exactly: compare on CER below, and check that the "
            "dataset's readout and normalisation (manifest.json) fit these images.",
        )
    speed = _speed(ran, best)
    lines += home + ([speed] if speed else [])
    lines += [f"{s.engine} failed on {s.n_errors:,} of {s.n:,} images (counted as misread)." for s in ran if s.n_errors]
    return lines + out


def _threads(threads: Any) -> str:
    """run.json's ``machine.threads``: torch's threads, the thread variables that are set, and the
    cores each worker gets when the run had several."""
    if not isinstance(threads, dict):
        return "" if threads is None else str(threads)
    names = {"torch": "torch {}", "torch_interop": "interop {}", "per_worker": "{} per worker"}
    return ", ".join(names[k].format(v) if k in names else f"{k}={v}" for k, v in threads.items() if v is not None)


def machine(run: Run) -> str:
    """run.json's machine in one line: CPU, cores and threads, the instruction sets the readers
    use (``isa``, when the run recorded them), GPU, system and Python."""
    m = dict(run.run.get("machine") or {})
    if not m:
        return "-"
    cpu = m.pop("cpu", None) or "unknown CPU"
    cores = m.pop("cores", None)
    parts = [cpu + (f", {cores} cores" if cores else "")]
    threads = _threads(m.pop("threads", None))
    if threads:
        parts.append(f"threads: {threads}")
    isa = m.pop("isa", None)
    if isinstance(isa, dict) and isa:
        has = [k for k, v in isa.items() if v]
        lacks = [k for k, v in isa.items() if not v]
        parts.append(
            "CPU features: "
            + (", ".join(has) or "none of those checked")
            + (f" (no {', '.join(lacks)})" if lacks else "")
        )
    gpu = m.pop("gpu", None)
    parts.append(f"GPU: {gpu}" if gpu else "no GPU")
    if m.get("platform"):
        parts.append(str(m.pop("platform")))
    if m.get("python"):
        parts.append(f"Python {m.pop('python')}")
    parts += [f"{k}: {_flat(v)}" for k, v in m.items()]
    return "; ".join(parts)


def _limit(max_misread: float) -> str:
    return f"{100 * max_misread:g}%"


class _MisreadEngine(TypedDict):
    """One engine's entry in the misreads section (the template reads these keys)."""

    stats: EngineStats
    curve: RiskCoverage
    reliability: Reliability
    points: list[OperatingPoint]


def misreads(run: Run, stats: list[EngineStats], colors: dict[str, str]) -> dict[str, Any]:
    """Misreads against no-reads: per engine the risk-coverage curve, the cross-fitted operating
    points and calibration, from the stored confidences; one decision sentence per operating point."""
    engines: list[_MisreadEngine] = []
    for s in stats:
        inputs = misread_inputs(run.rows(s.engine)) if s.has_results else None
        if inputs is None:
            continue
        outcome, confidence, first = inputs
        engines.append(
            {
                "stats": s,
                "curve": risk_coverage(outcome, confidence),
                "reliability": reliability(outcome, confidence),
                "points": operating_points(outcome, confidence, first),
            }
        )
    if not engines:
        return {}
    sentences = []
    for k, limit in enumerate(MAX_MISREADS):
        ranked = sorted(engines, key=lambda e: -e["points"][k].read_rate.estimate)
        reads = [
            f"{e['stats'].engine} {pct(e['points'][k].read_rate.estimate)} {ci(e['points'][k].read_rate)}"
            for e in ranked
        ]
        reads[0] = reads[0].replace(" ", " reads ", 1)
        over = [
            f"{e['stats'].engine} {pct(e['points'][k].misread_rate)}"
            for e in ranked
            if e["points"][k].misread_rate > limit
        ]
        caveat = (
            f" Held out, the accepted codes were misread more often than that ({', '.join(over)}): "
            "too few images to choose a threshold for this limit."
            if over
            else ""
        )
        sentences.append(
            f"At <= {_limit(limit)} misreads (threshold chosen on the other half of the images): "
            f"{', '.join(reads)}.{caveat}"
        )
    curves = {e["stats"].engine: (e["curve"].read_rate, e["curve"].misread_rate) for e in engines}
    points = {e["stats"].engine: [(p.read_rate.estimate, p.misread_rate) for p in e["points"]] for e in engines}
    diagrams = {
        e["stats"].engine: (
            e["reliability"].edges,
            e["reliability"].count,
            e["reliability"].accuracy,
            e["reliability"].ece,
        )
        for e in engines
    }
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
            {
                "engine": s.engine,
                "p50_ms": s.latency["p50_ms"],
                "acc": s.accuracy.estimate,
                "acc_low": s.accuracy.low,
                "acc_high": s.accuracy.high,
            }
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
            [
                {
                    "group": c["group"],
                    "engine": c["engine"],
                    "value": c["iv"].estimate,
                    "low": c["iv"].low,
                    "high": c["iv"].high,
                }
                for c in cells
            ]
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
    rates: dict[str, pd.Series] = {}
    counts: pd.Series | None = None
    confusions = []
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
    assert counts is not None  # ran is not empty
    rate.index = [f"{char(c)}\n{int(counts[c])}" for c in rate.index]
    chart = (
        plots.heatmap(
            rate.T, "error rate per truth character, %", "truth character (occurrences below)", "", fmt="{:.0f}"
        )
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
    counts = pd.crosstab(rows["engine"], rows["failure"]).reindex(
        index=[s.engine for s in ran], columns=FAILURE_CLASSES, fill_value=0
    )
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
    """Everything run.json recorded (command, dataset + fingerprint, machine, code), verbatim but the
    machine, which reads as one line."""
    items = [(k, machine(run) if k == "machine" else _flat(v)) for k, v in run.run.items()]
    if run.summary.get("finished"):
        items.append(("finished", str(run.summary["finished"])))
    return items
