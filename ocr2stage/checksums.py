"""Checksums of weight files: one definition for the library and the harness.

Why a module of its own: it imports nothing heavy, so the harness can check weights (``bench
engines``) without loading torch, and ocr2stage stays free of any harness import.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


class WeightsError(RuntimeError):
    """A weight file is missing or its checksum does not match the recorded one."""


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in blocks so large weights do not sit in memory twice."""
    h = hashlib.new(algorithm)
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
