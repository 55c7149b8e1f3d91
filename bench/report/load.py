"""Read a run folder (docs/FORMATS.md) into pandas and plain dicts, tolerating what is missing.

A report is most wanted when a run went wrong, so nothing here raises on a missing or partial
file: each gap becomes a note the report prints, and the sections show "n/a" where data is absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from bench.datasets import DatasetError, load_dataset
from bench.metrics.summary import slice_columns
from bench.results import confidence_of, load_records

META_PREFIX = "meta."
RESULT_COLUMNS = ("engine", "file", "truth", "prediction", "correct", "cer", "edits", "latency_ms", "error", "failure")


def _read_json(path: Path, notes: list[str]) -> Any:
    if not path.exists():
        notes.append(f"{path.name} is missing")
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        notes.append(f"{path.name} is not valid JSON ({e})")
        return None


def _read_results(run_dir: Path, notes: list[str]) -> pd.DataFrame:
    for name, reader in (("results.parquet", pd.read_parquet), ("results.csv", pd.read_csv)):
        if (run_dir / name).exists():
            df = reader(run_dir / name)
            break
    else:
        notes.append(
            "results table is missing (the run did not finish): `bench summarize-run RUN_DIR` builds it "
            "from the predictions written so far"
        )
        df = pd.DataFrame(columns=list(RESULT_COLUMNS))
    for col in ("truth", "prediction"):
        df[col] = df[col].fillna("").astype(str)
    df["correct"] = df["correct"].fillna(False).astype(bool)
    df["latency_ms"] = pd.to_numeric(df["latency_ms"], errors="coerce")
    df["error"] = df["error"].where(df["error"].notna() & (df["error"].astype(str) != ""), None)
    return df


@dataclass
class Run:
    """One run folder: run.json, engine records, the results table and the summary."""

    path: Path
    run: dict[str, Any]
    summary: dict[str, Any]
    engine_records: dict[str, dict[str, Any]]
    results: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def engines(self) -> list[str]:
        """Requested engines in the run's order, then any that only left records or rows."""
        order = list(self.run.get("engines") or [])
        for e in [*self.engine_records, *self.summary.get("engines", {}), *self.results["engine"].unique()]:
            if e not in order:
                order.append(e)
        return order

    def record(self, engine: str) -> dict[str, Any]:
        """``engines/<engine>.json`` (load time, load error), else the summary's copy."""
        return self.engine_records.get(engine) or self.summary.get("engines", {}).get(engine) or {}

    def info(self, engine: str) -> dict[str, Any]:
        """The engine's EngineInfo dict (label, versions, models, weights, device), {} if it never loaded."""
        return self.record(engine).get("info") or {}

    def label(self, engine: str) -> str:
        """The engine's own label, verbatim: a report must never rename a model."""
        return self.info(engine).get("label") or engine

    def metrics(self, engine: str) -> dict[str, Any]:
        return (self.summary.get("engines", {}).get(engine) or {}).get("metrics") or {}

    def slices(self, engine: str) -> dict[str, dict[str, dict[str, Any]]]:
        """The summary's ``{column: {value: metrics}}`` for one engine (``meta.`` prefix dropped)."""
        return (self.summary.get("engines", {}).get(engine) or {}).get("slices") or {}

    def rows(self, engine: str) -> pd.DataFrame:
        return self.results[self.results["engine"] == engine]

    @cached_property
    def slice_columns(self) -> list[str]:
        """``meta.*`` columns the summary slices by (few distinct string values)."""
        return slice_columns(self.results) if len(self.results) else []

    @property
    def dataset(self) -> dict[str, Any]:
        return self.run.get("dataset") or self.summary.get("run", {}).get("dataset") or {}

    @cached_property
    def images_dir(self) -> Path | None:
        """Where the run's images are now, or None (dataset moved or not on this machine)."""
        path = self.dataset.get("path")
        if not path:
            return None
        try:
            return load_dataset(str(path)).images_dir
        except DatasetError:
            return None

    def readings(self, files: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
        """Stored readings (lines, char boxes) of ``files``, by (engine, file)."""
        return {
            (r["engine"], r["file"]): r.get("reading") or {} for r in load_records(self.path) if r.get("file") in files
        }


def _with_confidence(results: pd.DataFrame, run_dir: Path, manifest: dict[str, Any]) -> pd.DataFrame:
    """A table written before confidences were kept gets them from the stored readings, read out
    with the run's own manifest, so every run folder can show its misreads against no-reads."""
    if "confidence" in results or results.empty:
        return results
    stored = {(r.get("engine"), r.get("file")): confidence_of(r, manifest) for r in load_records(run_dir)}
    return results.assign(confidence=[stored.get(k) for k in zip(results["engine"], results["file"])])


def load_run(run_dir: Path) -> Run:
    """Everything the report needs from a run folder; gaps are listed in ``Run.notes``."""
    run_dir = Path(run_dir)
    notes: list[str] = []
    run = _read_json(run_dir / "run.json", notes) or {}
    summary = _read_json(run_dir / "summary.json", notes) or {}
    if not run and summary.get("run"):
        run = summary["run"]
    records = {}
    for p in sorted((run_dir / "engines").glob("*.json")):
        rec = _read_json(p, notes)
        if rec:
            records[rec.get("engine") or p.stem] = rec
    results = _with_confidence(_read_results(run_dir, notes), run_dir, run.get("manifest") or {})
    return Run(run_dir, run, summary, records, results, notes)
