"""Report section 'With formats': every engine raw and under the dataset's (or the command
line's) formats side by side, and what each format and check rejected. Reads summary.json's
``formats`` entries (bench.metrics.formats); computes nothing new."""

from __future__ import annotations

from typing import Any

from bench.report.load import Run


def formats_section(run: Run) -> dict[str, Any] | None:
    """Rows per engine and per (format, engine), and decision sentences that lead with misreads;
    None when the run has no formats."""
    engines: list[dict[str, Any]] = []
    for e in run.engines:
        f = (run.summary.get("engines", {}).get(e) or {}).get("formats")
        if f:
            engines.append({"engine": e, "label": run.label(e), **f})
    if not engines:
        return None
    per_format = [
        {"format": name, "engine": e["engine"], **row} for e in engines for name, row in e["per_format"].items()
    ]
    sentences = []
    for entry in sorted(engines, key=lambda x: (x["constrained"]["misread"], -x["constrained"]["read_right"])):
        raw, con = entry["raw"], entry["constrained"]
        sentences.append(
            f"With formats, {entry['engine']} misreads {con['misread']:,} of {con['n']:,} codes "
            f"({100 * con['misread_rate']:.1f}%; raw {raw['misread']:,}), reads {100 * con['read_right_rate']:.1f}% "
            f"right (raw {100 * raw['read_right_rate']:.1f}%) and turns {con['no_read']:,} away as no-reads."
        )
    return {"engines": engines, "per_format": per_format, "sentences": sentences}
