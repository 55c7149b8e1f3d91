"""Matplotlib figures as ``data:`` URIs, so the report is one file that needs no network.

SVG keeps text as text (``svg.fonttype = none``): crisp at any zoom and a few kB per chart.
Every function takes plain numbers, never a run, so each chart can be tested on its own.
Charts name engines by their short run name (``paddleocr``); the engine table maps each name to
the engine's full label, which is often too long for an axis.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

plt.rcParams.update(
    {
        "svg.fonttype": "none",
        "svg.hashsalt": "ocr2stage-bench",  # stable element ids: the same run renders the same bytes
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "figure.dpi": 100,
    }
)

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def engine_colors(engines: Sequence[str]) -> dict[str, str]:
    """One fixed colour per engine across every chart and the gallery."""
    return {e: PALETTE[i % len(PALETTE)] for i, e in enumerate(engines)}


def _to_uri(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _err(est: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Asymmetric error bars from an interval; a nan interval draws no bar."""
    return np.nan_to_num(np.vstack([est - low, high - est]), nan=0.0).clip(min=0)


def accuracy_vs_latency(points: pd.DataFrame, colors: dict[str, str]) -> str:
    """One point per engine: median latency (log x) against sequence accuracy with its CI.

    ``points`` columns: engine, p50_ms, acc, acc_low, acc_high.
    """
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for _, p in points.iterrows():
        ax.errorbar(
            p.p50_ms,
            100 * p.acc,
            yerr=100 * _err(np.array([p.acc]), np.array([p.acc_low]), np.array([p.acc_high])),
            fmt="o",
            ms=8,
            capsize=4,
            color=colors[p.engine],
        )
        ax.annotate(p.engine, (p.p50_ms, 100 * p.acc), xytext=(7, 5), textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("median latency per image, ms (log scale; left is faster)")
    ax.set_ylabel("sequence accuracy, % (95% CI)")
    ax.set_ylim(-3, 103)
    return _to_uri(fig)


def grouped_bars(table: pd.DataFrame, colors: dict[str, str], ylabel: str) -> str:
    """Bars grouped by ``table.group``, one bar per engine, with CI error bars.

    ``table`` columns: group, engine, value, low, high (values are shares, drawn as %); engines
    are drawn in the order of ``colors``, the report's engine order.
    """
    groups = list(dict.fromkeys(table["group"]))
    engines = [e for e in colors if e in set(table["engine"])]
    width = 0.8 / max(len(engines), 1)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(groups) * max(len(engines), 1) * 0.45 + 2), 3.2))
    x = np.arange(len(groups))
    for i, e in enumerate(engines):
        t = table[table["engine"] == e].set_index("group").reindex(groups)
        est, low, high = (100 * t[c].to_numpy(dtype=float) for c in ("value", "low", "high"))
        ax.bar(
            x + (i - (len(engines) - 1) / 2) * width,
            np.nan_to_num(est),
            width,
            color=colors[e],
            label=e,
            yerr=_err(est, low, high),
            capsize=2,
            error_kw={"lw": 0.8},
        )
    ax.set_xticks(x, groups, rotation=20 if len(groups) > 5 else 0, ha="right" if len(groups) > 5 else "center")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, ncols=min(len(engines), 4), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return _to_uri(fig)


def heatmap(matrix: pd.DataFrame, title: str, xlabel: str, ylabel: str, fmt: str = "{:.0f}") -> str:
    """Annotated heat map; empty (nan or 0) cells stay blank so the hot spots stand out."""
    values = matrix.to_numpy(dtype=float)
    widest = max((len(line) for c in matrix.columns for line in str(c).split("\n")), default=1)
    cell_w, cell_h = max(0.3, 0.065 * widest + 0.1), 0.3
    fig, ax = plt.subplots(figsize=(cell_w * len(matrix.columns) + 1.6, cell_h * len(matrix.index) + 1.2))
    masked = np.ma.masked_where(~np.isfinite(values) | (values == 0), values)
    ax.imshow(masked, cmap="OrRd", aspect=cell_h / cell_w, vmin=0, interpolation="nearest")
    ax.set_xticks(range(len(matrix.columns)), [str(c) for c in matrix.columns], fontsize=8 if widest > 2 else 9)
    ax.set_yticks(range(len(matrix.index)), [str(i) for i in matrix.index])
    ax.grid(False)
    top = np.nanmax(values) if np.isfinite(values).any() else 0
    for (r, c), v in np.ndenumerate(values):
        if np.isfinite(v) and v != 0:
            ax.text(
                c, r, fmt.format(v), ha="center", va="center", fontsize=7, color="white" if v > 0.6 * top else "black"
            )
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return _to_uri(fig)


def latency_boxes(latencies: dict[str, np.ndarray], colors: dict[str, str]) -> str:
    """Horizontal box per engine, whiskers at the 5th/95th percentile, log scale.

    Outliers are not drawn one by one: on a 10,000-image run they would be thousands of SVG
    nodes; p99 is in the engine table instead.
    """
    engines = [e for e, v in latencies.items() if len(v)]
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(engines) + 1.0))
    bp = ax.boxplot(
        [latencies[e] for e in engines],
        vert=False,
        whis=(5, 95),
        showfliers=False,
        patch_artist=True,
        widths=0.6,
        medianprops={"color": "black"},
    )
    for patch, e in zip(bp["boxes"], engines):
        patch.set_facecolor(colors[e])
        patch.set_alpha(0.6)
    ax.set_yticks(range(1, len(engines) + 1), engines)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency per image, ms (log scale; box: p25-p75, whiskers: p5-p95)")
    return _to_uri(fig)


def stacked_failures(counts: pd.DataFrame, classes: Sequence[str]) -> str:
    """Share of images per failure class, one horizontal stacked bar per engine.

    ``counts``: index engine, columns failure classes (counts).
    """
    shares = counts.reindex(columns=list(classes), fill_value=0)
    shares = shares.div(shares.sum(axis=1).replace(0, np.nan), axis=0).fillna(0) * 100
    colors = {
        "correct": "#9bd19b",
        "no_text": "#7f7f7f",
        "missing_chars": "#d62728",
        "extra_chars": "#1f77b4",
        "substitutions": "#ff9f1c",
        "mixed": "#9467bd",
        "error": "#000000",
    }
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(shares) + 1.2))
    left = np.zeros(len(shares))
    for cls in shares.columns:
        ax.barh(
            range(len(shares)), shares[cls], left=left, color=colors.get(cls, "#cccccc"), label=cls.replace("_", " ")
        )
        left += shares[cls].to_numpy()
    ax.set_yticks(range(len(shares)), list(shares.index))
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of images")
    ax.legend(fontsize=7, ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return _to_uri(fig)


CURVE_POINTS = 400
"""Points drawn per risk-coverage curve: a 10,000-image curve has one per distinct confidence, which
would be thousands of SVG nodes for no visible difference."""


def risk_coverage(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    points: dict[str, list[tuple[float, float]]],
    colors: dict[str, str],
    limits: Sequence[float],
) -> str:
    """Misread rate among accepted codes against read rate, one curve per engine, as the threshold
    falls; the limits as dashed lines and each engine's cross-fitted operating points as markers.

    ``curves``: engine -> (read rates, misread rates) as shares; ``points``: engine -> [(read
    rate, misread rate)] per limit. The misread axis is logarithmic above 0.1% and linear below,
    so a misread rate of exactly 0 stays on the chart.
    """
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    markers = "osD^v"
    for e, (read, misread) in curves.items():
        keep: np.ndarray | list[int] = (
            np.unique(np.linspace(0, len(read) - 1, CURVE_POINTS).round().astype(int)) if len(read) else []
        )
        ax.plot(100 * read[keep], 100 * misread[keep], color=colors[e], lw=1.5, label=e)
        for k, (r, m) in enumerate(points.get(e, [])):
            ax.plot(100 * r, 100 * m, markers[k % len(markers)], color=colors[e], ms=6, mfc="white", mew=1.5)
    for limit in limits:
        ax.axhline(100 * limit, color="#555555", ls="--", lw=0.8)
        ax.annotate(
            f"{100 * limit:g}% misreads",
            (0, 100 * limit),
            xytext=(2, 2),
            textcoords="offset points",
            fontsize=7,
            color="#555555",
        )
    ax.set_yscale("symlog", linthresh=0.1, linscale=0.5)
    ax.set_yticks([0, 0.1, 1, 10, 100], ["0", "0.1", "1", "10", "100"])
    ax.set_ylim(-0.01, 100)
    ax.set_xlim(0, 100)
    ax.set_xlabel("read rate: % of all images whose code is accepted")
    ax.set_ylabel("misread rate: % of accepted codes wrong")
    ax.legend(fontsize=7, ncols=min(len(curves), 4), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return _to_uri(fig)


def reliability_diagrams(
    diagrams: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]], colors: dict[str, str]
) -> str:
    """One small reliability diagram per engine: share of codes right per confidence bin against the
    diagonal, where a calibrated engine's bars would end; the number of codes above each bar.

    ``diagrams``: engine -> (bin edges, codes per bin, share right per bin, ECE).
    """
    engines = list(diagrams)
    cols = min(len(engines), 4)
    rows = -(-len(engines) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.5 * cols + 0.4, 2.6 * rows), squeeze=False, sharey=True)
    for ax in axes.ravel()[len(engines) :]:
        ax.set_visible(False)
    for ax, e in zip(axes.ravel(), engines):
        edges, count, accuracy, ece = diagrams[e]
        centres, width = 100 * (edges[:-1] + edges[1:]) / 2, 100 * np.diff(edges)
        ax.bar(centres, np.nan_to_num(100 * accuracy), width * 0.9, color=colors[e], alpha=0.75)
        ax.plot([0, 100], [0, 100], color="#555555", ls="--", lw=0.8)
        for x, n, a in zip(centres, count, accuracy):
            if n:
                ax.text(x, min(100 * a, 92) + 2, f"{n:,}", ha="center", fontsize=6, color="#333333")
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 105)
        ax.set_title(f"{e}: ECE {100 * ece:.1f}%" if np.isfinite(ece) else f"{e}: no codes", fontsize=8)
        ax.set_xlabel("confidence, %", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("codes right, %", fontsize=8)
    return _to_uri(fig)
