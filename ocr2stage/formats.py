"""Code formats: what a production line's code may look like, and its check character.

A format is a regular expression over the code, or a *field string* as industrial code readers
configure it (``AAA[UJZ] NNNNNN C``: ``A`` a letter, ``N`` a digit, ``X`` either, ``C`` the check
character, ``[..]`` one of the characters listed, anything else literal, ``\\`` before a field
letter makes it literal, spaces only group the fields), plus an optional named check.

Formats match the code without whitespace: spaces and line breaks are layout, which a reader
places from gaps and a benchmark ignores (``normalize.remove_whitespace``). Why a library module
and not part of the harness: the reader itself decodes under a format
(``TwoStageOCR.read(images, format=...)``), so the format must exist without ``bench``.

Checks come from python-stdnum where it has the algorithm (ISO 6346, Luhn, GS1 mod 10, ISO 7064
mod 37-36 and mod 11-10); VIN position 9 is written here because stdnum has no VIN module. A user
registers a check of their own as a callable ``str -> bool`` in the entry-point group
:data:`CHECK_GROUP`, the way engines are registered.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

import numpy as np

CHECK_GROUP = "ocr2stage.checks"
Check = Callable[[str], bool]
"""A check gets the alphanumeric characters the check covers (separators left out) and says
whether the check character fits them."""

_VIN_VALUES = {
    **{d: int(d) for d in string.digits},
    **dict(zip("ABCDEFGH", range(1, 9))),
    **dict(zip("JKLMN", range(1, 6))),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10))),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check(code: str) -> bool:
    """VIN position 9 (North American check digit): transliterated characters weighted, mod 11,
    10 written ``X``. I, O and Q never occur in a VIN."""
    if len(code) != 17 or any(c not in _VIN_VALUES for c in code):
        return False
    total = sum(_VIN_VALUES[c] * w for c, w in zip(code, _VIN_WEIGHTS))
    return code[8] == "0123456789X"[total % 11]


def _stdnum(module: str, name: str = "is_valid") -> Check:
    def check(code: str) -> bool:
        import importlib

        return bool(getattr(importlib.import_module(module), name)(code))

    check.__doc__ = f"{module}.{name}"
    return check


def gs1_mod10(code: str) -> bool:
    """GS1 mod 10 (GTIN, SSCC, GLN of any length): the weights 3, 1 from the right (stdnum.ean)."""
    from stdnum import ean

    return len(code) >= 2 and code.isdigit() and ean.calc_check_digit(code[:-1]) == code[-1]


BUILTIN_CHECKS: dict[str, Check] = {
    "iso6346": _stdnum("stdnum.iso6346"),
    "luhn": _stdnum("stdnum.luhn"),
    "gs1_mod10": gs1_mod10,
    "iso7064_mod37_36": _stdnum("stdnum.iso7064.mod_37_36"),
    "iso7064_mod11_10": _stdnum("stdnum.iso7064.mod_11_10"),
    "vin": vin_check,
}
CHECK_CLASSES: dict[str, str] = {
    "iso6346": "[0-9]",
    "luhn": "[0-9]",
    "gs1_mod10": "[0-9]",
    "iso7064_mod37_36": "[0-9A-Z*]",
    "iso7064_mod11_10": "[0-9]",
    "vin": "[0-9X]",
}
"""What a ``C`` field may hold under each check (any alphanumeric under a check not listed)."""


class FormatError(ValueError):
    """A format or check that cannot be used; the message says which and why."""


def check_names() -> list[str]:
    return [*BUILTIN_CHECKS, *(ep.name for ep in entry_points(group=CHECK_GROUP) if ep.name not in BUILTIN_CHECKS)]


def check_function(name: str) -> Check:
    """The check registered as ``name`` (built in, or entry point ``ocr2stage.checks``)."""
    if name in BUILTIN_CHECKS:
        return BUILTIN_CHECKS[name]
    for ep in entry_points(group=CHECK_GROUP, name=name):
        fn = ep.load()
        if not callable(fn):
            raise FormatError(f"check {name!r} ({ep.value}) is not callable")
        return fn
    raise FormatError(f"unknown check {name!r}; known: {', '.join(check_names())}")


FIELD_CLASSES = {"A": "[A-Z]", "N": "[0-9]", "X": "[0-9A-Z]"}


def fields_to_regex(fields: str, check: str | None = None) -> tuple[str, int | None]:
    """A field string -> (regular expression, number of characters the check covers: up to and
    including ``C``, or None when there is no ``C``)."""
    out, n, check_end, i = [], 0, None, 0
    while i < len(fields):
        c = fields[i]
        if c.isspace():
            i += 1
            continue
        if c == "\\" and i + 1 < len(fields):
            out.append(re.escape(fields[i + 1]))
            i += 2
        elif c == "[":
            end = fields.find("]", i)
            if end < 0:
                raise FormatError(f"field string {fields!r}: '[' at {i} is never closed")
            out.append("[" + "".join(re.escape(ch) for ch in fields[i + 1 : end]) + "]")
            i = end + 1
        elif c in FIELD_CLASSES:
            out.append(FIELD_CLASSES[c])
            i += 1
        elif c == "C":
            if check_end is not None:
                raise FormatError(f"field string {fields!r} has more than one check position C")
            out.append(CHECK_CLASSES.get(check or "", "[0-9A-Z]"))
            check_end = n + 1
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
        n += 1
    if check_end is not None and check is None:
        raise FormatError(f"field string {fields!r} has a check position C but no check is named")
    return "".join(out), check_end


@dataclass(frozen=True)
class Format:
    """A code format: ``regex`` over the code without whitespace, an optional ``check`` and the
    number of leading characters it covers (``check_end``; None: the whole code)."""

    regex: str
    check: str | None = None
    check_end: int | None = None
    name: str = ""
    parts: tuple[str, ...] = ()
    """When set, ``regex`` is these parts one after the other (:meth:`sequence`)."""

    def __post_init__(self) -> None:
        try:
            re.compile(self.regex)
        except re.error as e:
            raise FormatError(f"format {self.regex!r} is not a regular expression ({e})") from e
        if self.check is not None:
            check_function(self.check)

    @classmethod
    def from_fields(cls, fields: str, check: str | None = None, name: str = "") -> Format:
        regex, end = fields_to_regex(fields, check)
        return cls(regex, check, end, name or fields)

    @classmethod
    def sequence(cls, parts: tuple[str, ...], check: str | None = None, name: str = "") -> Format:
        """Codes of one format after another's (a two-line code); see :func:`sequence_automaton`."""
        return cls("".join(f"(?:{p})" for p in parts), check, None, name or " + ".join(parts), tuple(parts))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], name: str = "") -> Format:
        """From a manifest entry: ``{"fields": "..."}``, ``{"regex": "..."}`` or ``{"sequence":
        [regex, ...]}``, optional ``"check"``."""
        kinds = [k for k in ("fields", "regex", "sequence") if isinstance(spec, Mapping) and k in spec]
        if len(kinds) != 1:
            raise FormatError(
                f"format {name or spec!r}: give exactly one of 'fields', 'regex', 'sequence', not {spec!r}"
            )
        unknown = set(spec) - {"fields", "regex", "sequence", "check"}
        if unknown:
            raise FormatError(f"format {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
        check = spec.get("check")
        if "fields" in spec:
            return cls.from_fields(spec["fields"], check, name)
        if "sequence" in spec:
            return cls.sequence(tuple(spec["sequence"]), check, name)
        return cls(spec["regex"], check, None, name or spec["regex"])

    def reason(self, code: str) -> str | None:
        """None when ``code`` (whitespace ignored) is accepted, else why not."""
        code = "".join(code.split())
        if not re.fullmatch(self.regex, code):
            return "does not fit the format"
        if self.check is not None:
            covered = re.sub(r"[^0-9A-Z]", "", code[: self.check_end])
            if not check_function(self.check)(covered):
                return f"{self.check} check fails"
        return None

    def accepts(self, code: str) -> bool:
        return self.reason(code) is None

    def automaton(self, symbols: str) -> Automaton:
        return sequence_automaton(self.parts, symbols) if self.parts else automaton(self.regex, symbols)


@dataclass(frozen=True)
class Automaton:
    """An automaton over the characters ``symbols`` as edges: reading ``symbols[sym[e]]`` in state
    ``src[e]`` may lead to ``dst[e]``; ``final[state]`` says a code may end there. Nondeterministic
    where parts are joined (:func:`sequence_automaton`), which a decoder over paths handles as
    is. Dead states are left out so that a decoder never explores them."""

    symbols: str
    src: np.ndarray
    sym: np.ndarray
    dst: np.ndarray
    initial: int
    final: np.ndarray
    sym_start: np.ndarray
    """Edges are sorted by symbol: those reading ``symbols[j]`` are ``sym_start[j]:sym_start[j + 1]``."""

    @classmethod
    def build(
        cls, symbols: str, src: np.ndarray, sym: np.ndarray, dst: np.ndarray, initial: int, final: np.ndarray
    ) -> Automaton:
        """Edges sorted by symbol, so that a decoder takes the few a box can be read as at once."""
        order = np.argsort(sym, kind="stable")
        starts = np.searchsorted(sym[order], np.arange(len(symbols) + 1))
        return cls(symbols, src[order], sym[order], dst[order], initial, final, starts)

    @property
    def n_states(self) -> int:
        return len(self.final)

    def edges_reading(self, symbols: np.ndarray) -> np.ndarray:
        """Indices of the edges that read any of ``symbols`` (indices into ``self.symbols``)."""
        if not len(symbols):
            return np.zeros(0, np.int64)
        return np.concatenate([np.arange(self.sym_start[j], self.sym_start[j + 1]) for j in symbols])


@lru_cache(maxsize=256)
def automaton(regex: str, symbols: str) -> Automaton:
    """``regex`` as a DFA over ``symbols`` (interegular), cached: a format is compiled once."""
    import interegular

    try:
        fsm = interegular.parse_pattern(regex).to_fsm()
    except Exception as e:  # interegular raises its own errors for syntax it does not support
        raise FormatError(f"format {regex!r} cannot be made an automaton ({type(e).__name__}: {e})") from e
    live = set(fsm.finals)  # states from which a final state is reachable; the others are dead ends
    changed = True
    while changed:
        changed = False
        for s in fsm.states:
            if s not in live and any(t in live for t in fsm.map.get(s, {}).values()):
                live.add(s)
                changed = True
    index = {s: i for i, s in enumerate(sorted(live))}
    edges = [
        (i, j, index[t])
        for s, i in index.items()
        for j, ch in enumerate(symbols)
        if (t := fsm.map.get(s, {}).get(fsm.alphabet[ch])) in index
    ]
    src, sym, dst = (np.array(col, dtype=np.int64) for col in zip(*edges)) if edges else (np.zeros(0, np.int64),) * 3
    final = np.zeros(max(len(index), 1), dtype=bool)
    final[[index[s] for s in fsm.finals if s in index]] = True
    return Automaton.build(symbols, src, sym, dst, index.get(fsm.initial, 0), final)


@lru_cache(maxsize=64)
def sequence_automaton(parts: tuple[str, ...], symbols: str) -> Automaton:
    """The codes of ``parts`` one after the other (a code on two lines, each its own format).

    Why not one regular expression: determinising a concatenation of two broad formats (any of six
    code kinds, then any again) takes interegular minutes, since where the first code ends is
    ambiguous; joined as a nondeterministic automaton (each final state of a part also takes the
    next part's first moves) it is the parts' size, and the decoder's paths resolve the ambiguity."""
    a = automaton(parts[0], symbols)
    for regex in parts[1:]:
        b = automaton(regex, symbols)
        off = a.n_states
        starts = b.src == b.initial
        finals = np.nonzero(a.final)[0]
        src = np.concatenate([a.src, b.src + off, np.repeat(finals, starts.sum())])
        sym = np.concatenate([a.sym, b.sym, np.tile(b.sym[starts], len(finals))])
        dst = np.concatenate([a.dst, b.dst + off, np.tile(b.dst[starts] + off, len(finals))])
        final = np.concatenate([a.final & bool(b.final[b.initial]), b.final])
        a = Automaton.build(symbols, src, sym, dst, a.initial, final)
    return a


def formats_for(spec: Mapping[str, Any]) -> tuple[str | None, dict[str, Format]]:
    """A manifest's ``formats`` -> (meta column or None, {value: Format}); ``{"all": {...}}`` is one
    format for the whole set (key ``""``), ``{"by": COLUMN, "values": {VALUE: {...}}}`` one per value."""
    if "all" in spec:
        return None, {"": Format.from_spec(spec["all"], "all")}
    if "by" in spec and isinstance(spec.get("values"), Mapping):
        return str(spec["by"]), {str(v): Format.from_spec(s, str(v)) for v, s in spec["values"].items()}
    raise FormatError(
        f"formats must be {{'all': FORMAT}} or {{'by': COLUMN, 'values': {{VALUE: FORMAT}}}}, not {dict(spec)!r}"
    )
