"""The dataset manifest, checked as a whole when the dataset loads (docs/FORMATS.md).

Why up front: a manifest field is used late (the readout when the first result is written, the
pattern when a line is fitted), so a typo or a wrong type used to crash a run half-way or exit
with a traceback. Checked here, it stops the run before any work, naming the field. Keys this
module does not know (``notes``, ``generator``, ...) are kept as they are: they describe the set
and change no result; keys inside ``normalize`` change results, so an unknown one is an error.
"""

from __future__ import annotations

import re
from typing import Any

from bench.readout import READOUTS, UNICODE_FORMS
from ocr2stage.formats import FormatError, formats_for

TYPES: dict[str, type] = {
    "name": str,
    "description": str,
    "charset": str,
    "readout": str,
    "pattern": str,
    "normalize": dict,
    "root": str,
    "evaluation_only": bool,
    "fingerprint": str,
    "formats": dict,
}
"""Known top-level keys and the JSON type each must have."""
NORMALIZE_TYPES: dict[str, type] = {
    "uppercase": bool,
    "remove_whitespace": bool,
    "keep_only_charset": bool,
    "map": dict,
    "unicode": str,
}


class ManifestError(ValueError):
    """A manifest field is missing its type or value; the message names the field."""


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def check_manifest(data: Any, where: str) -> dict[str, Any]:
    """``data`` (parsed manifest.json) when every known field is valid; raises ManifestError naming
    the first field that is not. ``where`` (the file) starts the message."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: a manifest is a JSON object, not {_json_type(data)}")

    def bad(field: str, why: str) -> ManifestError:
        return ManifestError(f"{where}: field {field!r} {why}")

    for key, kind in TYPES.items():
        if key in data and not isinstance(data[key], kind):
            raise bad(key, f"must be {_json_type(kind())}, not {_json_type(data[key])} ({data[key]!r})")
    if "readout" in data and data["readout"] not in READOUTS:
        raise bad("readout", f"is {data['readout']!r}; choose one of {', '.join(READOUTS)}")
    if "pattern" in data:
        try:
            re.compile(data["pattern"])
        except re.error as e:
            raise bad("pattern", f"is not a valid regular expression ({e})") from e
    if "formats" in data:
        try:
            formats_for(data["formats"])
        except FormatError as e:
            raise bad("formats", f"is not usable: {e}") from e
    rules = data.get("normalize", {})
    for key, value in rules.items():
        field = f"normalize.{key}"
        if key not in NORMALIZE_TYPES:
            raise bad(field, f"is unknown; known: {', '.join(NORMALIZE_TYPES)}")
        if not isinstance(value, NORMALIZE_TYPES[key]):
            raise bad(field, f"must be {_json_type(NORMALIZE_TYPES[key]())}, not {_json_type(value)} ({value!r})")
    for src, dst in rules.get("map", {}).items():
        if not isinstance(dst, str) or not src:
            raise bad(f"normalize.map.{src}", f"must map a non-empty string to a string, not to {dst!r}")
    if rules.get("unicode", UNICODE_FORMS[0]) not in UNICODE_FORMS:
        raise bad("normalize.unicode", f"is {rules['unicode']!r}; choose one of {', '.join(UNICODE_FORMS)}")
    return data
