"""Dataset folders: labels (jsonl or csv), the optional manifest, images, fingerprint.

A dataset is data plus a manifest that says how a prediction is formed and compared
(readout, normalisation); see docs/FORMATS.md.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.manifest import ManifestError, check_manifest
from ocr2stage.images import ImageError, open_image

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


PROJECT_DATASETS = Path(__file__).resolve().parent.parent / "datasets"


class DatasetError(ValueError):
    """The dataset cannot be used at all (unknown name, no labels, unreadable or invalid manifest)."""


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
    """Where images/ and the labels are: the dataset folder, or the folder its manifest's ``root`` names."""
    items: list[Item]
    manifest: dict[str, Any]
    problems: list[str]
    """Label rows that could not be used (line number and why); they are not evaluated."""
    folder: Path | None = None
    """The folder that was named (it holds the manifest); differs from ``root`` only with a manifest ``root``."""

    @property
    def images_dir(self) -> Path:
        return self.root / "images"


def resolve(name_or_path: str) -> Path:
    """A name under the project's ``datasets/`` or a folder path; raises DatasetError otherwise."""
    candidate = Path(name_or_path).expanduser()
    for folder in (candidate, PROJECT_DATASETS / name_or_path):
        if folder.is_dir() and ((folder / "manifest.json").exists() or any((folder / n).exists() for n in LABEL_FILES)):
            return folder.resolve()
    known = ", ".join(sorted(p.name for p in list_datasets())) or "none"
    raise DatasetError(f"unknown dataset {name_or_path!r}: not a dataset folder; known names: {known}")


def list_datasets() -> list[Path]:
    if not PROJECT_DATASETS.is_dir():
        return []
    return [p for p in sorted(PROJECT_DATASETS.iterdir()) if (p / "manifest.json").exists()]


def _data_root(folder: Path, manifest: dict[str, Any]) -> Path:
    """Where images/ and labels live: the folder, or the manifest's ``root`` (data kept elsewhere).

    A folder with labels of its own and a ``root`` is refused: the other folder's labels would
    silently replace the ones beside the manifest.
    """
    if "root" in manifest:
        own = [n for n in LABEL_FILES if (folder / n).exists()]
        if own:
            raise DatasetError(
                f"{folder}: manifest field 'root' points at {manifest['root']}, but the folder has "
                f"{own[0]} of its own; remove one of them so it is clear which labels are meant"
            )
        root = (folder / manifest["root"]).resolve()
        if not root.is_dir():
            raise DatasetError(f"{folder.name}: data folder {root} is not present")
        return root
    return folder


def _read_lines(path: Path) -> list[tuple[int, str | None]]:
    """(line number, text or None if not UTF-8); why: one bad row must not hide the others."""
    out: list[tuple[int, str | None]] = []
    for no, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            out.append((no, raw.decode("utf-8-sig" if no == 1 else "utf-8")))
        except UnicodeDecodeError:
            out.append((no, None))
    return out


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _row_problem(row: Any) -> str | None:
    """Why a parsed labels.jsonl row cannot be used, or None. Why every field is checked here: a
    wrongly typed value used to crash the run where it was first used (the readout, the results
    table), some of them half-way through."""
    if not isinstance(row, dict):
        return f"a row is a JSON object, not {type(row).__name__}"
    missing = [k for k in ("file", "text") if k not in row]
    if missing:
        return f"missing {' and '.join(map(repr, missing))}"
    if not isinstance(row["file"], str) or not row["file"]:
        return f"'file' must be a non-empty string, not {row['file']!r}"
    if not isinstance(row["text"], str):
        return f"'text' must be a string, not {row['text']!r}"
    chars = row.get("chars")
    if chars is not None and not (
        isinstance(chars, list)
        and all(
            isinstance(c, dict)
            and isinstance(c.get("char"), str)
            and isinstance(c.get("box"), list)
            and len(c["box"]) == 4
            and all(map(_is_number, c["box"]))
            for c in chars
        )
    ):
        return f'\'chars\' must be a list of {{"char": str, "box": [x0, y0, x1, y1]}}, not {chars!r:.80}'
    meta = row.get("meta")
    if meta is not None and not isinstance(meta, dict):
        return f"'meta' must be an object, not {meta!r:.80}"
    for key, value in (meta or {}).items():
        if not (value is None or isinstance(value, (str, bool)) or _is_number(value)):
            return f"'meta.{key}' must be a string, number, true/false or null (meta is flat), not {value!r:.80}"
    return None


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
        except json.JSONDecodeError as e:
            problems.append(f"{path.name} line {no}: bad row (JSONDecodeError: {e})")
            continue
        problem = _row_problem(row)
        if problem:
            problems.append(f"{path.name} line {no}: bad row ({problem})")
        else:
            items.append(Item(row["file"], row["text"], row.get("chars"), row.get("meta") or {}))
    return items, problems


def _csv_records(path: Path, problems: list[str]) -> Iterator[tuple[int, list[str]]]:
    """``(first line number, fields)`` per CSV record, with the csv module's quoting, so a quoted
    field may hold commas and line breaks (a truth on two lines). A line that is not UTF-8 is
    listed and left out; a malformed record (a quote left open) is listed, and reading goes on."""
    start: list[int] = []

    def lines() -> Iterator[str]:
        for no, text in _read_lines(path):
            if text is None:
                problems.append(f"{path.name} line {no}: not UTF-8")
                continue
            if not start:
                start.append(no)
            yield text + "\n"

    reader = csv.reader(lines(), strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            problems.append(f"{path.name} line {start[0]}: malformed CSV record ({e})")
            start.clear()
            continue
        yield start[0], row
        start.clear()


def _parse_csv(path: Path) -> tuple[list[Item], list[str]]:
    """Columns ``file,text``; a row with another number of fields than the header is listed and
    left out (an unquoted comma in a truth would otherwise cut it silently)."""
    problems: list[str] = []
    records = _csv_records(path, problems)
    no, header = next(records, (1, []))
    if no != 1 or [c.strip() for c in header] != ["file", "text"]:
        raise DatasetError(f"{path}: first line must be the header 'file,text'")
    items = []
    for no, row in records:
        if not any(field.strip() for field in row):
            continue
        if len(row) != 2:
            problems.append(
                f"{path.name} line {no}: expected 2 fields 'file,text', got {len(row)}: {','.join(row)!r:.120}"
            )
            continue
        items.append(Item(row[0], row[1]))
    return items, problems


def outside_images(images: Path, file: str) -> bool:
    """True when ``images/file`` resolves outside ``images/`` (``..``, an absolute path, a symlink
    leading out): such a file is not covered by the dataset fingerprint and is not the dataset's."""
    return not (images / file).resolve().is_relative_to(images.resolve())


def load_dataset(name_or_path: str) -> Dataset:
    """Resolve and parse a dataset; unusable rows go to ``problems`` (bad or empty row, duplicate,
    a path leading out of images/). An invalid manifest is a DatasetError naming the field."""
    folder = resolve(name_or_path)
    mpath = folder / "manifest.json"
    try:
        manifest = check_manifest(json.loads(mpath.read_text(encoding="utf-8")), str(mpath)) if mpath.exists() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{mpath}: not valid JSON ({e})") from e
    except ManifestError as e:
        raise DatasetError(str(e)) from e
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
        elif outside_images(root / "images", it.file):
            problems.append(f"{it.file}: path leads outside the dataset's images/ folder (refused)")
        elif it.file in seen:
            problems.append(f"{it.file}: duplicate label row")
        else:
            seen.add(it.file)
            kept.append(it)
    return Dataset(manifest.get("name", folder.name), root, kept, manifest, problems, folder)


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
    with open_image(path) as im:
        try:
            im.load()
            return _to_rgb8(im)
        except (OSError, SyntaxError, ValueError) as e:
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
