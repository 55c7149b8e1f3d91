"""The failure gallery: the worst images, each with every engine's aligned reading.

Worst means misread by the most engines, then the largest summed CER. The gallery is capped
and thumbnails are small JPEGs so a 10,000-image run still gives a report one can email;
character boxes are drawn by the browser as SVG over the thumbnail, in the image's own pixel
coordinates, so no per-engine copy of the picture is stored.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from bench.datasets import ImageError, load_image, outside_images
from bench.metrics.text import align
from bench.report.load import META_PREFIX, Run
from bench.report.stats import EngineStats

CAP = 60
THUMB_MAX = (360, 120)
JPEG_QUALITY = 72
MAX_OPS = 80
"""Aligned characters shown per reading; a reading of a whole plate's slogans is cut after that."""
OP_CLASS = {"equal": "", "replace": "s", "delete": "d", "insert": "x"}
"""CSS class per alignment op, one letter: the gallery repeats it for every character shown."""


@dataclass(frozen=True)
class Thumbnail:
    uri: str | None
    width: int
    """Size of the full image: the coordinate space of the engines' boxes."""
    height: int
    missing: str | None = None


def thumbnail(images: Path | None, file: str) -> Thumbnail:
    """A downscaled JPEG data URI of the image the engines were given, or why there is none (a
    file outside the dataset's ``images/`` is not read: a hand-edited run folder could name any)."""
    if images is None:
        return Thumbnail(None, 0, 0, "dataset not found on this machine")
    if outside_images(images, file):
        return Thumbnail(None, 0, 0, f"{file} is outside the dataset's images/ folder (not read)")
    path = images / file
    try:
        pixels = load_image(path)
    except ImageError as e:
        return Thumbnail(None, 0, 0, str(e))
    im = Image.fromarray(pixels)
    full = im.size
    im.thumbnail(THUMB_MAX, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return Thumbnail("data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), *full)


def char_boxes(reading: dict[str, Any]) -> list[list[float]]:
    """Every character box the engine reported (``lines[].chars[].box``), in reading order."""
    return [
        list(c["box"])
        for line in reading.get("lines") or []
        for c in line.get("chars") or []
        if c.get("box") is not None
    ]


def boxes_path(boxes: list[list[float]]) -> str:
    """All boxes as one SVG path in whole pixels: a fraction of the bytes of one <rect> each."""
    return "".join(f"M{x0:.0f} {y0:.0f}h{x1 - x0:.0f}v{y1 - y0:.0f}h{x0 - x1:.0f}z" for x0, y0, x1, y1 in boxes)


def worst_files(results: pd.DataFrame, engines: list[str], cap: int = CAP) -> list[str]:
    """Files misread by at least one engine: most engines wrong first, then highest summed CER."""
    rows = results[results["engine"].isin(engines)]
    rows = rows.assign(wrong=~rows["correct"].astype(bool))
    per_file = rows.groupby("file").agg(wrong=("wrong", "sum"), cer=("cer", "sum"))
    per_file = per_file[per_file["wrong"] > 0].sort_values(["wrong", "cer"], ascending=False, kind="stable")
    return list(per_file.index[:cap])


def gallery(run: Run, stats: list[EngineStats], colors: dict[str, str], cap: int = CAP) -> dict[str, Any]:
    """Cards for the worst images, plus the values the engine and slice filters offer."""
    ran = [s for s in stats if s.has_results]
    files = worst_files(run.results, [s.engine for s in ran], cap)
    wanted = set(files)
    readings = run.readings(wanted)
    rows = run.results[run.results["file"].isin(wanted)]
    by_key = {(r["engine"], r["file"]): r for r in rows.to_dict("records")}
    images = run.images_dir
    slice_cols = run.slice_columns
    cards = []
    for f in files:
        first = next(by_key[(s.engine, f)] for s in ran if (s.engine, f) in by_key)
        readouts = []
        for s in ran:
            r = by_key.get((s.engine, f))
            if r is None:
                continue
            ops = align(first["truth"], r["prediction"])
            boxes = char_boxes(readings.get((s.engine, f), {}))
            readouts.append(
                {
                    "engine": s.engine,
                    "label": s.label,
                    "color": colors[s.engine],
                    "prediction": r["prediction"],
                    "correct": bool(r["correct"]),
                    "error": r["error"],
                    "cer": r["cer"],
                    "latency_ms": r["latency_ms"],
                    "ops": [(OP_CLASS[op], t, p) for op, t, p in ops[:MAX_OPS]],
                    "cut": max(len(ops) - MAX_OPS, 0),
                    "n_boxes": len(boxes),
                    "boxes": boxes_path(boxes),
                }
            )
        cards.append(
            {
                "file": f,
                "truth": first["truth"],
                "slices": {
                    c.removeprefix(META_PREFIX): str(first[c]) if pd.notna(first.get(c)) else None for c in slice_cols
                },
                "thumb": thumbnail(images, f),
                "readouts": readouts,
            }
        )
    n_wrong = int(run.results.groupby("file")["correct"].all().eq(False).sum()) if len(run.results) else 0
    return {
        "cards": cards,
        "n_wrong": n_wrong,
        "cap": cap,
        "slice_values": {
            c.removeprefix(META_PREFIX): sorted(run.results[c].dropna().astype(str).unique()) for c in slice_cols
        },
    }
