"""From an engine's lines to the one code that is compared with the truth.

A plate or a label shows more than the code (a state name, a slogan): the dataset's manifest
says how the code is read out of the lines. The truth is never used to choose.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from bench.engines.base import Line, Reading

READOUTS = ("all_lines", "tallest_line", "best_fit")
UnicodeForm = Literal["NFKC", "none"]
UNICODE_FORMS: tuple[UnicodeForm, ...] = ("NFKC", "none")
"""``normalize.unicode``, NFKC by default: a full-width ``：``, ``Ｓ`` or ``１`` (PP-OCRv5 returns them)
is the character it shows, so it is compared as that character; ``"none"`` compares code points as given."""


SCORING_KEYS = ("readout", "pattern", "normalize")
"""Manifest keys that change what counts as correct; runs scored differently are not comparable."""


def scoring_key(manifest: dict[str, Any]) -> dict[str, Any]:
    """What decides correctness in a run's manifest: compared by the gate and by ``--resume``. The
    runner writes ``normalize.unicode`` into every run's manifest, so the key of a run scored
    before Unicode normalisation existed (no such key) differs from one scored with it."""
    return {k: manifest.get(k) for k in SCORING_KEYS}


def unicode_form(manifest: dict[str, Any]) -> UnicodeForm:
    """The Unicode normalisation the manifest asks for (part of the scoring key; one of
    UNICODE_FORMS, which ``bench.manifest`` checks)."""
    return manifest.get("normalize", {}).get("unicode", UNICODE_FORMS[0])


def _unicode(text: str, manifest: dict[str, Any]) -> str:
    form = unicode_form(manifest)
    return text if form == "none" else unicodedata.normalize(form, text)


def normalize(text: str, manifest: dict[str, Any]) -> str:
    """Apply the manifest's comparison rules to a truth or a prediction alike (Unicode form first,
    so that a full-width letter is uppercased and matched against the charset as itself)."""
    rules = manifest.get("normalize", {})
    text = _unicode(text, manifest)
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
    raw = "".join(_unicode(line.text, manifest).split()).upper()
    charset = manifest.get("charset")
    share = sum(ch in charset for ch in raw) / len(raw) if charset and raw else 1.0
    return (bool(pattern and re.fullmatch(pattern, text)), share, line.height)


def chosen_lines(reading: Reading, manifest: dict[str, Any], mode: str | None = None) -> list[Line]:
    """The lines the code is read from according to ``mode`` (default: the manifest's ``readout``):
    one choice shared by the code (:func:`read_out`) and its confidence (:func:`code_confidence`)."""
    mode = mode or manifest.get("readout", "all_lines")
    lines = [ln for ln in reading.lines if ln.text.strip()]
    if not lines:
        return []
    if mode == "all_lines":
        return lines
    if mode == "tallest_line":
        return [max(lines, key=lambda ln: (ln.height, ln.confidence or 0.0))]
    if mode == "best_fit":
        return [max(lines, key=lambda ln: _fit(ln, manifest))]
    raise ValueError(f"unknown readout {mode!r}; choose one of {', '.join(READOUTS)}")


def read_out(reading: Reading, manifest: dict[str, Any], mode: str | None = None) -> str:
    """The normalised code according to ``mode`` (default: the manifest's ``readout``)."""
    return normalize("\n".join(ln.text for ln in chosen_lines(reading, manifest, mode)), manifest)


def code_confidence(reading: Reading, manifest: dict[str, Any], mode: str | None = None) -> float | None:
    """How sure the engine is of the code :func:`read_out` returns: the lowest confidence of the
    lines it was read from, because one wrong character spoils the whole code.

    Each adapter defines its lines' confidence (two-stage: its closest call between two readings of
    one box; EasyOCR and PaddleOCR: the weakest recognised box's; Tesseract: the weakest symbol's).
    A line without one counts as 1.0: an engine that states no confidence cannot abstain. None when
    the code is empty: nothing was read, a no-read at every threshold.
    """
    lines = chosen_lines(reading, manifest, mode)
    if not normalize("\n".join(ln.text for ln in lines), manifest):
        return None
    return min(1.0 if ln.confidence is None else float(ln.confidence) for ln in lines)
