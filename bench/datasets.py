"""Dataset folders: labels (jsonl or csv), the optional manifest, images, fingerprint.

A dataset is data plus a manifest that says how a prediction is formed and compared
(readout, normalisation); see docs/FORMATS.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

LABEL_FILES = ("labels.jsonl", "labels.csv")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(root: Path) -> str:
    """``sha256:`` over the labels file and every image (relative path + content hash).

    Why: a result or a baseline is only comparable to another on the very same bytes; the
    manifest is left out so that editing its description does not change the fingerprint.
    """
    root = Path(root)
    h = hashlib.sha256()
    label_file = next((root / n for n in LABEL_FILES if (root / n).exists()), None)
    if label_file is None:
        raise FileNotFoundError(f"{root}: no labels.jsonl or labels.csv")
    files = [label_file, *sorted(p for p in (root / "images").rglob("*") if p.is_file())]
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + _sha256_file(p).encode() + b"\n")
    return "sha256:" + h.hexdigest()


def write_fingerprint(root: Path) -> str:
    """Store the current fingerprint in ``manifest.json`` (created if absent)."""
    root = Path(root)
    mpath = root / "manifest.json"
    manifest = json.loads(mpath.read_text()) if mpath.exists() else {}
    manifest["fingerprint"] = fingerprint(root)
    mpath.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest["fingerprint"]

MAX_PIXELS = 40_000_000
"""Images above this are refused per image: a decompression bomb or a mistake, never a code crop."""

PROJECT_DATASETS = Path(__file__).resolve().parent.parent / "datasets"


class DatasetError(ValueError):
    """The dataset cannot be used at all (unknown name, no labels, unreadable manifest)."""


class ImageError(ValueError):
    """One image cannot be read; recorded against that image, the run goes on."""


@dataclass(frozen=True)
class Item:
    file: str
    text: str
    chars: list[dict[str, Any]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    items: list[Item]
    manifest: dict[str, Any]
    problems: list[str]
    """Label rows that could not be used (line number and why); they are not evaluated."""

    @property
    def images_dir(self) -> Path:
        return self.root / "images"


def resolve(name_or_path: str) -> Path:
    """A name under the project's ``datasets/`` or a folder path; raises DatasetError otherwise."""
    candidate = Path(name_or_path).expanduser()
    for folder in (candidate, PROJECT_DATASETS / name_or_path):
        if folder.is_dir() and (
            (folder / "manifest.json").exists() or any((folder / n).exists() for n in LABEL_FILES)
        ):
            return folder.resolve()
    known = ", ".join(sorted(p.name for p in list_datasets())) or "none"
    raise DatasetError(f"unknown dataset {name_or_path!r}: not a dataset folder; known names: {known}")


def list_datasets() -> list[Path]:
    if not PROJECT_DATASETS.is_dir():
        return []
    return [p for p in sorted(PROJECT_DATASETS.iterdir()) if (p / "manifest.json").exists()]


def _data_root(folder: Path, manifest: dict[str, Any]) -> Path:
    """Where images/ and labels live: the folder, or the manifest's ``root`` (data kept elsewhere)."""
    if "root" in manifest:
        root = (folder / manifest["root"]).resolve()
        if not root.is_dir():
            raise DatasetError(f"{folder.name}: data folder {root} is not present")
        return root
    return folder


def _read_lines(path: Path) -> list[tuple[int, str | None]]:
    """(line number, text or None if not UTF-8); why: one bad row must not hide the others."""
    out = []
    for no, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            out.append((no, raw.decode("utf-8-sig" if no == 1 else "utf-8")))
        except UnicodeDecodeError:
            out.append((no, None))
    return out


def _parse_jsonl(path: Path) -> tuple[list[Item], list[str]]:
    items, problems = [], []
    for no, line in _read_lines(path):
        if line is None:
            problems.append(f"{path.name} line {no}: not UTF-8")
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(Item(row["file"], row["text"], row.get("chars"), row.get("meta") or {}))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            problems.append(f"{path.name} line {no}: bad row ({e.__class__.__name__}: {e})")
    return items, problems


def _parse_csv(path: Path) -> tuple[list[Item], list[str]]:
    lines = _read_lines(path)
    if not lines or lines[0][1] is None or [c.strip() for c in next(csv.reader([lines[0][1]]))][:2] != ["file", "text"]:
        raise DatasetError(f"{path}: first line must be the header 'file,text'")
    items, problems = [], []
    for no, line in lines[1:]:
        if line is None:
            problems.append(f"{path.name} line {no}: not UTF-8")
            continue
        if not line.strip():
            continue
        row = next(csv.reader(io.StringIO(line)))
        if len(row) < 2:
            problems.append(f"{path.name} line {no}: expected 'file,text', got {line!r}")
            continue
        items.append(Item(row[0], row[1]))
    return items, problems


def load_dataset(name_or_path: str) -> Dataset:
    """Resolve and parse a dataset; unusable rows go to ``problems`` (empty text, bad row, duplicate)."""
    folder = resolve(name_or_path)
    mpath = folder / "manifest.json"
    try:
        manifest = json.loads(mpath.read_text()) if mpath.exists() else {}
    except json.JSONDecodeError as e:
        raise DatasetError(f"{mpath}: not valid JSON ({e})") from e
    root = _data_root(folder, manifest)
    if (root / "labels.jsonl").exists():
        items, problems = _parse_jsonl(root / "labels.jsonl")
    elif (root / "labels.csv").exists():
        items, problems = _parse_csv(root / "labels.csv")
    else:
        raise DatasetError(f"{root}: no labels.jsonl or labels.csv")
    kept, seen = [], set()
    for it in items:
        if not it.text.strip():
            problems.append(f"{it.file}: empty label")
        elif it.file in seen:
            problems.append(f"{it.file}: duplicate label row")
        else:
            seen.add(it.file)
            kept.append(it)
    return Dataset(manifest.get("name", folder.name), root, kept, manifest, problems)


def evaluation_only(ds: Dataset) -> str | None:
    """Why ``ds`` must never be trained on, or None: its manifest says it is a test set
    (``evaluation_only``), or it lies in a ``realsets`` folder (real evaluation data, see
    ../shared/realsets) whatever its manifest says."""
    if "realsets" in ds.root.resolve().parts:
        return f"{ds.name} is real evaluation data ({ds.root}): never train or fine-tune on it"
    if ds.manifest.get("evaluation_only"):
        return f"{ds.name} is a test set (evaluation_only in its manifest): never train or fine-tune on it"
    return None


def load_image(path: Path) -> np.ndarray:
    """Any PIL-readable image as RGB uint8 (H, W, 3); raises ImageError with the reason.

    Why normalise here: every engine then sees the same pixels, so differences between engines
    are theirs, not their loaders' (16-bit scaled to 8, alpha composited on white, palette expanded).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImageError(f"image too large: {path.name} is {im.width}x{im.height}")
            im.load()
            return _to_rgb8(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        if isinstance(e, ImageError):
            raise
        raise ImageError(f"corrupt or unreadable image: {path.name} ({e})") from e


def _to_rgb8(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = np.zeros_like(a) if hi <= lo else (a - lo) * (255.0 / (hi - lo))
        return np.repeat(a.astype(np.uint8)[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))
