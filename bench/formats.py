"""Formats in the harness: which format each image's code must fit, and every engine's reading under it.

The formats come from the dataset's manifest (one for the set, or one per value of a ``meta``
column such as ``kind``) or from the command line (``bench run --format ... --check ...``, which
wins). Every engine is read once; the constrained reading is derived from what it returned, so a
run reports each engine raw and with formats side by side and the raw numbers stay as they were:

- an engine whose lines carry a lattice (two-stage: each box's class probabilities) is decoded
  from it exactly as ``TwoStageOCR.read(images, format=...)`` decodes (the same function);
- an engine that returns only a string gets the cheapest look-alike edit into the format
  (:func:`ocr2stage.decoding.decode_string`), so the comparison stays fair;
- a string engine whose lines carry each character's alternatives (Tesseract's ``choices``) is
  corrected by those instead, its own evidence (:func:`ocr2stage.decoding.decode_choices`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.engines.base import Line, Reading
from bench.readout import chosen_lines, normalize, read_out
from ocr2stage.decoding import Alternatives, Decoded, decode_choices, decode_lattice, decode_string
from ocr2stage.formats import Format, FormatError, formats_for

__all__ = ["FormatError", "RunFormats", "constrained", "run_formats"]


@dataclass(frozen=True)
class RunFormats:
    """The formats of a run: ``by`` is the meta column choosing one (None: ``formats[""]`` for all)."""

    by: str | None
    formats: dict[str, Format]

    def for_item(self, meta: dict[str, Any] | None) -> Format | None:
        """The format an image's code must fit, or None when its meta value has none."""
        if self.by is None:
            return self.formats.get("")
        value = (meta or {}).get(self.by)
        return None if value is None else self.formats.get(str(value))


def cli_formats(fmt: str | None, check: str | None) -> dict[str, Any] | None:
    """``--format`` / ``--check`` as a manifest ``formats`` entry (a field string unless it starts
    with ``^`` or ``re:``, which mark a regular expression); None when neither is given."""
    if fmt is None and check is None:
        return None
    if fmt is None:
        raise FormatError("--check needs --format (the check says which characters it covers through C)")
    spec: dict[str, Any] = {"regex": fmt.removeprefix("re:")} if fmt.startswith(("^", "re:")) else {"fields": fmt}
    if check is not None:
        spec["check"] = check
    Format.from_spec(spec)  # refuse a bad format before any work
    return {"all": spec}


def run_formats(manifest: dict[str, Any], options: dict[str, Any] | None = None) -> RunFormats | None:
    """The run's formats: the command line's (``options["formats"]``) or the manifest's; None without any."""
    spec = (options or {}).get("formats") or manifest.get("formats")
    if not spec:
        return None
    by, formats = formats_for(spec)
    return RunFormats(by, formats)


def constrained(reading: dict[str, Any] | None, manifest: dict[str, Any], fmt: Format) -> Decoded:
    """An engine's reading of one image under ``fmt`` (see the module docstring); the text is
    normalised as the run normalises predictions."""
    if reading is None:
        return Decoded(None, "no reading", float("inf"), 0.0)
    parsed = Reading.from_dict(reading)
    lines = chosen_lines(parsed, manifest)
    choices = normalized_choices(lines, manifest)
    if lines and all(ln.lattice is not None for ln in lines):
        out = decode_lattice([box for ln in lines for box in ln.lattice or ()], fmt)
    elif choices is not None:
        out = decode_choices(choices, fmt)
    else:
        out = decode_string(read_out(parsed, manifest), fmt)
    if out.text is None:
        return out
    return Decoded(normalize(out.text, manifest), None, out.cost, out.free_cost, out.candidates)


def normalized_choices(lines: Sequence[Line], manifest: dict[str, Any]) -> list[Alternatives] | None:
    """The lines' per-character alternatives with every character normalised as the run normalises
    predictions (alternatives that become the same character add up; a character normalised away
    goes, and so does its box when it is the one read). None when a line has none, or when the
    characters read do not spell the normalised reading (e.g. one that normalises into two)."""
    if not lines or any(ln.choices is None for ln in lines):
        return None
    out: list[Alternatives] = []
    for alts in (box for ln in lines for box in ln.choices or ()):
        merged: dict[str, float] = {}
        for c, p in alts:
            n = normalize(c, manifest)
            if len(n) == 1 and not n.isspace():
                merged[n] = merged.get(n, 0.0) + p
        read = normalize(alts[0][0], manifest) if alts else ""
        if read in merged:
            out.append(((read, merged.pop(read)), *merged.items()))
    spelled = "".join(a[0][0] for a in out)
    reading = normalize("\n".join(ln.text for ln in lines), manifest)
    return out if spelled == "".join(reading.split()) else None
