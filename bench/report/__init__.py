"""The HTML report of a finished (or partial) run: one self-contained file in the run folder.

It reads only what the run stored (docs/FORMATS.md) and never calls an engine: the numbers in
the report are the numbers of the run, so a report can be rebuilt at any time, anywhere the run
folder (and, for thumbnails, the dataset) is.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2

from bench.report import sections
from bench.report.compare import compare
from bench.report.fmt import FILTERS
from bench.report.formats import formats_section
from bench.report.gallery import gallery
from bench.report.load import Run, load_run
from bench.report.plots import engine_colors
from bench.report.stats import engine_stats

__all__ = ["build_context", "render", "write_report"]

REPORT_NAME = "report.html"


def build_context(run: Run, baseline: Run | None = None) -> dict[str, Any]:
    """Everything the template shows, computed once from the stored run."""
    stats = [engine_stats(run, e) for e in run.engines]
    colors = engine_colors(run.engines)
    misreads = sections.misreads(run, stats, colors)
    formats = formats_section(run)
    return {
        "run": run,
        "stats": stats,
        "colors": colors,
        "findings": (formats["sentences"] if formats else [])
        + sections.findings(stats, run)
        + misreads.get("sentences", []),
        "misreads": misreads,
        "formats": formats,
        "pairwise": sections.pairwise_table(stats, run),
        "scatter": sections.scatter(stats, colors),
        "latency": sections.latency_plot(run, stats, colors),
        "slices": sections.slices(run, stats, colors),
        "chars": sections.characters(run, stats),
        "failures": sections.failures(run, stats),
        "gallery": gallery(run, stats, colors),
        "repro": sections.reproducibility(run),
        "comparison": compare(run, baseline) if baseline is not None else None,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def render(context: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env.get_template("report.html.j2").render(**context)


def write_report(run_dir: Path, compare_to: Path | None = None) -> Path:
    """Write ``report.html`` (or ``report-vs-<other run>.html`` when comparing) into ``run_dir``.

    A comparison gets its own file so that re-rendering the plain report never overwrites it.
    """
    run_dir = Path(run_dir)
    baseline = load_run(Path(compare_to)) if compare_to is not None else None
    html = render(build_context(load_run(run_dir), baseline))
    out = run_dir / (REPORT_NAME if baseline is None else f"report-vs-{baseline.name}.html")
    out.write_text(html, encoding="utf-8")
    return out
