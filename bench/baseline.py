"""Baselines: the stored outcome of one run, which later runs are compared with image by image.

A baseline keeps what summary.json says (metrics overall and per slice, engine descriptions,
dataset fingerprint) and, per engine, which images were read correctly and with how many edits.
Why the per-image part: a drop is judged against noise with a paired test on the very same
images, which needs to know which images each run got right, not only how many.

The gate reads a run folder into the same structure (:func:`snapshot`), so a baseline file and a
fresh run are compared like with like.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench.metrics.summary import length_bucket
from bench.readout import scoring_key
from bench.results import load_records

FORMAT = "bench-baseline/1"
SLICE_METRICS = ("n", "sequence_accuracy", "cer")
"""What a baseline keeps of each slice's summary metrics: the deterministic ones, so a rerun of the
same model changes no slice line and a baseline diff shows only slices whose results changed."""


class BaselineError(ValueError):
    """A run folder or baseline file cannot be read, or cannot serve as a baseline."""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise BaselineError(f"{path} does not exist") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BaselineError(f"{path} is not readable JSON ({e})") from e


def _membership(table: pd.DataFrame, columns: set[str]) -> dict[str, dict[str, list[str]]]:
    """``{column: {value: [files]}}`` for the slices summary.json reports, grouped as it groups them."""
    images = table.drop_duplicates("file").set_index("file")
    out: dict[str, dict[str, list[str]]] = {}
    for col in sorted(columns):
        if col == "length":
            values = images["truth"].str.len().map(length_bucket)
        elif f"meta.{col}" in images:
            values = images[f"meta.{col}"].dropna().astype(str)
        else:
            continue
        out[col] = {str(v): sorted(group.index) for v, group in values.groupby(values, sort=True)}
    return out


def _check_tables_match_predictions(run_dir: Path, table: pd.DataFrame) -> None:
    """Raise BaselineError unless results.parquet holds exactly the readings in predictions/.

    Why: the table is derived from the predictions by ``summarize``; a folder whose predictions
    were emptied, rewritten or resumed after that still held the old table, and the gate judged it.
    """

    def rows(pairs: list[tuple[Any, ...]]) -> set[tuple[str, ...]]:
        return {tuple(map(str, p)) for p in pairs}

    records = rows([(r["engine"], r["file"], r["truth"], r["prediction"]) for r in load_records(run_dir)])
    stored = rows(list(zip(table["engine"], table["file"], table["truth"], table["prediction"])))
    if records != stored or len(table) != len(records):
        raise BaselineError(
            f"{run_dir}: results.parquet does not match predictions/ ({len(table)} rows, "
            f"{len(records)} readings, {len(records ^ stored)} differ): run `bench summarize-run "
            f"{run_dir}` to rebuild it"
        )


CONFIDENCE_DIGITS = 4
"""Code confidences are kept to 4 decimals: enough to rank codes, few enough that a rerun of the
same model rewrites no outcome line."""


def _outcomes(rows: pd.DataFrame) -> dict[str, list[Any]]:
    """``{file: [correct 0/1, edits, confidence]}``; the confidence (None: no code returned) is what
    the gate's operating-point rule re-chooses thresholds from. Tables from before confidences were
    kept give two-element outcomes, which that rule cannot judge."""
    if "confidence" not in rows:
        return {f: [int(c), int(n)] for f, c, n in zip(rows["file"], rows["correct"], rows["edits"])}
    conf = pd.to_numeric(rows["confidence"], errors="coerce")
    return {
        f: [int(c), int(n), None if pd.isna(x) else round(float(x), CONFIDENCE_DIGITS)]
        for f, c, n, x in zip(rows["file"], rows["correct"], rows["edits"], conf)
    }


def snapshot(run_dir: Path) -> dict[str, Any]:
    """A run folder (summary.json + results.parquet) as a baseline-shaped dict.

    Engines that failed to load keep their ``error`` and have no outcomes; the gate decides
    what that means. Raises BaselineError when the folder has no summary or results, or when the
    results table does not match the predictions it was built from.
    """
    run_dir = Path(run_dir)
    summary = _read_json(run_dir / "summary.json")
    try:
        table = pd.read_parquet(run_dir / "results.parquet")
    except (OSError, ValueError) as e:
        raise BaselineError(f"{run_dir}: no readable results.parquet (run `bench summarize-run {run_dir}`): {e}") from e
    _check_tables_match_predictions(run_dir, table)
    run = summary["run"]
    chars = table.drop_duplicates("file").set_index("file")["truth"].str.len()
    engines: dict[str, Any] = {}
    for name, entry in summary["engines"].items():
        rows = table[table["engine"] == name]
        engines[name] = {
            "info": entry["info"],
            "error": entry["error"],
            "metrics": entry["metrics"],
            "slices": {
                col: {value: {k: m.get(k) for k in SLICE_METRICS} for value, m in values.items()}
                for col, values in entry["slices"].items()
            },
            "outcomes": _outcomes(rows),
        }
    slice_cols = {col for e in summary["engines"].values() for col in e["slices"]}
    return {
        "format": FORMAT,
        "source": {
            "run_dir": str(run_dir),
            "command": run["command"],
            "code_version": run["code_version"],
            "started": run["started"],
            "machine": run["machine"],
        },
        "dataset": {
            "name": run["dataset"]["name"],
            "fingerprint": run["dataset"]["fingerprint"],
            "n": run["dataset"]["n"],
            "limit": run["options"].get("limit"),
            "images": {f: int(n) for f, n in chars.sort_index().items()},
            "slices": _membership(table, slice_cols),
        },
        "scoring": scoring_key(run["manifest"]),
        "engines": engines,
    }


def _dumps(data: dict[str, Any]) -> str:
    """Indented JSON with every innermost list or object on one line: one image outcome or one
    slice per line, so a baseline update reviews as the images and slices that changed.

    Joining lines is safe anywhere: a newline inside a JSON string is always escaped.
    """

    def join(m: re.Match[str]) -> str:
        return re.sub(r"\n\s*", "", re.sub(r",\n\s*", ", ", m.group()))

    return re.sub(r"[\[{][^\[\]{}]*[\]}]", join, json.dumps(data, indent=1, ensure_ascii=False))


def save_baseline(run_dir: Path, to: Path) -> Path:
    """Store a finished run folder as a baseline JSON file at ``to``; returns ``to``.

    Refuses (BaselineError) a run in which an engine failed to load or did not read every image:
    a baseline with holes would let the same holes pass later. Slice membership is left out: the
    fingerprint pins the dataset, so the gate takes it from the run being judged.
    """
    snap = snapshot(run_dir)
    del snap["dataset"]["slices"]
    n = snap["dataset"]["n"]
    for name, e in snap["engines"].items():
        if e["error"]:
            raise BaselineError(f"{name} failed to load in {run_dir}: {e['error']}")
        if len(e["outcomes"]) != n:
            raise BaselineError(f"{name} has results for {len(e['outcomes'])} of {n} images in {run_dir}")
    snap["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_text(_dumps(snap) + "\n", encoding="utf-8")
    return to


def load_baseline(path: Path) -> dict[str, Any]:
    """Read a baseline file; raises BaselineError when it is missing, unreadable or of another format."""
    data = _read_json(Path(path))
    if data.get("format") != FORMAT:
        raise BaselineError(f"{path}: not a {FORMAT} baseline (format {data.get('format')!r})")
    return data
