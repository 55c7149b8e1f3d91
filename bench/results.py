"""A finished (or partial) run folder -> results table and summary.json.

Everything here is derived from the files the runner wrote; nothing calls an engine, so the
table and summary can be rebuilt at any time (``bench summarize RUN_DIR``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rapidfuzz.distance import Levenshtein

from bench.engines.base import Reading
from bench.formats import RunFormats, constrained, run_formats
from bench.metrics.detection import char_box_counts
from bench.metrics.formats import format_metrics
from bench.metrics.summary import (
    engine_metrics,
    misread_metrics,
    slice_columns,
    sliced_metrics,
)
from bench.metrics.text import cer, failure_class
from bench.readout import code_confidence


def _pred_char_boxes(reading: dict[str, Any] | None) -> list[list[float]] | None:
    """Every character box of a reading, or None when the engine reports no character boxes."""
    if reading is None:
        return None
    lines = reading.get("lines", [])
    if not lines or any(ln.get("chars") is None for ln in lines):
        return [] if not lines else None
    return [c["box"] for ln in lines for c in ln["chars"] if c.get("box") is not None]


def confidence_of(rec: dict[str, Any], manifest: dict[str, Any] | None) -> float | None:
    """The code-level confidence of a stored reading (None: no code), read out as the run read it."""
    if rec.get("error") or not rec.get("reading"):
        return None
    return code_confidence(Reading.from_dict(rec["reading"]), manifest or {})


def _row(rec: dict[str, Any], engine_has_chars: bool, manifest: dict[str, Any] | None) -> dict[str, Any]:
    truth, pred = rec["truth"], rec["prediction"]
    row = {
        "engine": rec["engine"],
        "file": rec["file"],
        "truth": truth,
        "prediction": pred,
        "correct": truth == pred and rec["error"] is None,
        "cer": cer(truth, pred),
        "edits": Levenshtein.distance(truth, pred),
        "latency_ms": rec["latency_ms"],
        "error": rec["error"],
        "failure": "error" if rec["error"] else failure_class(truth, pred),
        "n_lines": len((rec["reading"] or {}).get("lines", [])),
        "confidence": confidence_of(rec, manifest),
    }
    boxes = _pred_char_boxes(rec["reading"])
    truth_boxes = [c["box"] for c in rec.get("truth_chars") or []]
    if engine_has_chars and truth_boxes and rec["error"] is None:
        counts = char_box_counts(truth_boxes, boxes or [])
        row.update({f"chars_{k.removesuffix('_chars')}": v for k, v in counts.items()})
    row.update({f"meta.{k}": v for k, v in (rec.get("meta") or {}).items()})
    return row


def _format_columns(rec: dict[str, Any], formats: RunFormats, manifest: dict[str, Any]) -> dict[str, Any]:
    """The reading under the image's format: ``constrained`` (None: a no-read, ``format_reason``
    says why) and ``raw_format_reason``, why the format rejects the raw prediction (None: it fits)."""
    fmt = formats.for_item(rec.get("meta"))
    if fmt is None:
        return {"format": None, "constrained": None, "format_reason": None, "raw_format_reason": None}
    out = constrained(rec["reading"] if rec["error"] is None else None, manifest, fmt)
    return {
        "format": fmt.name,
        "constrained": out.text,
        "format_reason": out.reason,
        "raw_format_reason": fmt.reason(rec["prediction"]) if rec["prediction"] else "no text",
    }


def load_records(run_dir: Path) -> list[dict[str, Any]]:
    recs = []
    for path in sorted((Path(run_dir) / "predictions").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line of a killed run
    return recs


def results_table(
    records: list[dict[str, Any]], manifest: dict[str, Any] | None = None, formats: RunFormats | None = None
) -> pd.DataFrame:
    """One row per (engine, image); character-box columns only for engines that report boxes;
    ``manifest`` (the run's) reads out each code's confidence as the code was read out; format
    columns (:func:`_format_columns`) when the run has ``formats``."""
    has_chars = {r["engine"] for r in records if _pred_char_boxes(r["reading"]) not in (None, [])}
    rows = [_row(r, r["engine"] in has_chars, manifest) for r in records]
    if formats is not None:
        for row, rec in zip(rows, records):
            row.update(_format_columns(rec, formats, manifest or {}))
    table = pd.DataFrame(rows)
    for col in ("chars_truth", "chars_pred", "chars_matched", "chars_merged", "chars_split"):
        if col not in table:
            table[col] = pd.NA
    return table


def summarize(run_dir: Path) -> dict[str, Any]:
    """Write results.parquet, results.csv and summary.json; return the summary."""
    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    formats = run_formats(run["manifest"], run.get("options"))
    table = results_table(load_records(run_dir), run["manifest"], formats)
    for name, write in (("results.parquet", table.to_parquet), ("results.csv", table.to_csv)):
        if len(table):
            write(run_dir / name, index=False)
        else:  # no result (yet): an earlier summary's table must not outlive its predictions
            (run_dir / name).unlink(missing_ok=True)
    slices = slice_columns(table) if len(table) else []
    engines: dict[str, Any] = {}
    for engine in run["engines"]:
        ej = run_dir / "engines" / f"{engine}.json"
        desc = json.loads(ej.read_text()) if ej.exists() else {"info": None, "load_s": None, "error": "not run"}
        rows = table[table["engine"] == engine] if len(table) else table
        engines[engine] = {
            "info": desc["info"],
            "load_s": desc["load_s"],
            "error": desc["error"],
            "metrics": {**engine_metrics(rows), "misreads": misread_metrics(rows), "load_s": desc["load_s"]}
            if len(rows)
            else None,
            "slices": sliced_metrics(rows, slices) if len(rows) else {},
            **({"formats": format_metrics(rows)} if formats is not None and len(rows) else {}),
        }
    summary = {"run": run, "engines": engines, "finished": datetime.now(UTC).isoformat(timespec="seconds")}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary
