"""Dataset folders: labels (jsonl or csv), the optional manifest, images, fingerprint.

A dataset is data plus a manifest that says how a prediction is formed and compared
(readout, normalisation); see docs/FORMATS.md.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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
