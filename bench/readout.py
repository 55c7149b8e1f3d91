"""From an engine's lines to the one code that is compared with the truth.

A plate or a label shows more than the code (a state name, a slogan): the dataset's manifest
says how the code is read out of the lines. The truth is never used to choose.
"""

from __future__ import annotations

import re
from typing import Any

from bench.engines.base import Line, Reading

READOUTS = ("all_lines", "tallest_line", "best_fit")


def normalize(text: str, manifest: dict[str, Any]) -> str:
    """Apply the manifest's comparison rules to a truth or a prediction alike."""
    rules = manifest.get("normalize", {})
    if rules.get("uppercase", False):
        text = text.upper()
    for src, dst in rules.get("map", {}).items():
        text = text.replace(src, dst)
    if rules.get("remove_whitespace", False):
        text = "".join(text.split())
    if rules.get("keep_only_charset", False) and manifest.get("charset"):
        allowed = set(manifest["charset"])
        text = "".join(ch for ch in text if ch in allowed or ch == "\n")
    return text.strip()


def _fit(line: Line, manifest: dict[str, Any]) -> tuple[bool, float, float]:
    """How much a line looks like the code: matches the pattern, share of charset chars, height."""
    text = normalize(line.text, manifest)
    if not text:
        return (False, -1.0, line.height)
    pattern = manifest.get("pattern")
    raw = "".join(line.text.split()).upper()
    charset = manifest.get("charset")
    share = sum(ch in charset for ch in raw) / len(raw) if charset and raw else 1.0
    return (bool(pattern and re.fullmatch(pattern, text)), share, line.height)


def read_out(reading: Reading, manifest: dict[str, Any], mode: str | None = None) -> str:
    """The normalised code according to ``mode`` (default: the manifest's ``readout``)."""
    mode = mode or manifest.get("readout", "all_lines")
    lines = [ln for ln in reading.lines if ln.text.strip()]
    if not lines:
        return ""
    if mode == "all_lines":
        chosen = lines
    elif mode == "tallest_line":
        chosen = [max(lines, key=lambda ln: (ln.height, ln.confidence or 0.0))]
    elif mode == "best_fit":
        chosen = [max(lines, key=lambda ln: _fit(ln, manifest))]
    else:
        raise ValueError(f"unknown readout {mode!r}; choose one of {', '.join(READOUTS)}")
    return normalize("\n".join(ln.text for ln in chosen), manifest)
