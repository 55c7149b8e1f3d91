"""Random industrial code strings: serials, part numbers, lot, date and time codes.

Why templates and not words: the codes a part carries have no linguistic structure, so a reader
cannot guess a character from its neighbours; the characters that look alike on a worn part
(0/O/D/Q, 1/I/L/7, 2/Z, 5/S, 6/G, 8/B) are drawn three times as often as the others so that
a benchmark sees many chances to confuse them.
"""

from __future__ import annotations

import string
from collections.abc import Callable

import numpy as np

DIGITS = string.digits
ALNUM = string.digits + string.ascii_uppercase
AMBIGUOUS = "0ODQ1IL72Z5S6G8B"

_WEIGHTS = np.array([3.0 if c in AMBIGUOUS else 1.0 for c in ALNUM])
_WEIGHTS /= _WEIGHTS.sum()


def _alnum(rng: np.random.Generator, n: int) -> str:
    return "".join(ALNUM[i] for i in rng.choice(len(ALNUM), size=n, p=_WEIGHTS))


def _uniform(rng: np.random.Generator, alphabet: str, n: int) -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=n))


def _digits(rng: np.random.Generator, n: int) -> str:
    return _uniform(rng, DIGITS, n)


def pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    """One of ``options``, uniformly (repeat an option to weight it)."""
    return options[rng.integers(len(options))]


def _date_parts(rng: np.random.Generator) -> tuple[str, str, str]:
    year = int(rng.integers(2019, 2031))
    month = int(rng.integers(1, 13))
    day = int(rng.integers(1, 29))
    return f"{year:04d}", f"{month:02d}", f"{day:02d}"


def serial(rng: np.random.Generator) -> str:
    """``SN 7X4Q-99B2K``: a prefix and alphanumeric groups."""
    groups = ((4, 5), (3, 4, 3), (6,), (2, 6), (10,), (5, 5))[rng.integers(6)]
    sep = pick(rng, ("-", "-", "", " "))
    body = sep.join(_alnum(rng, n) for n in groups)
    return pick(rng, ("SN ", "SN ", "S/N ", "SN:", "")) + body


def part_number(rng: np.random.Generator) -> str:
    """``PN 4471-09/B.2``: digits and letters separated by ``-``, ``/`` and ``.``."""
    body = pick(rng, ("d-d/a.d", "d-d-d", "ad.d.d", "d-d/a", "d.d-a"))
    parts = []
    for token in body:
        if token == "d":
            parts.append(_digits(rng, int(rng.integers(2, 5))))
        elif token == "a":
            parts.append(_alnum(rng, int(rng.integers(1, 3))))
        else:
            parts.append(token)
    return pick(rng, ("PN ", "P/N ", "REF ", "")) + "".join(parts)


def lot_code(rng: np.random.Generator) -> str:
    """``L23A0417``, ``LOT B0423-07``: year, shift letter, day or counter."""
    form = int(rng.integers(3))
    if form == 0:
        return "L" + _digits(rng, 2) + _alnum(rng, 1) + _digits(rng, 4)
    if form == 1:
        return pick(rng, ("LOT ", "LOT:", "LOT")) + _alnum(rng, int(rng.integers(5, 8)))
    return pick(rng, ("LOT ", "B ", "")) + _alnum(rng, 1) + _digits(rng, 4) + "-" + _digits(rng, 2)


def date_code(rng: np.random.Generator) -> str:
    """``2024.11.07``, ``EXP 11/26``, ``MFG 2024-11-07`` and other date stamps."""
    y, m, d = _date_parts(rng)
    return pick(
        rng,
        (
            f"{y}.{m}.{d}",
            f"{d}.{m}.{y}",
            f"{y[2:]}/{m}/{d}",
            f"MFG {y}-{m}-{d}",
            f"EXP {m}/{y[2:]}",
            f"EXP {y}-{m}",
            f"BB {m}.{y}",
            f"{d}/{m}/{y[2:]}",
        ),
    )


def time_code(rng: np.random.Generator) -> str:
    """``12:45``, ``12:45:07`` or a date and a time on one line."""
    hh, mm, ss = (
        f"{int(rng.integers(0, 24)):02d}",
        f"{int(rng.integers(0, 60)):02d}",
        f"{int(rng.integers(0, 60)):02d}",
    )
    y, m, d = _date_parts(rng)
    return pick(rng, (f"{hh}:{mm}", f"{hh}:{mm}:{ss}", f"{y}.{m}.{d} {hh}:{mm}", f"{d}.{m}.{y[2:]} {hh}:{mm}"))


def digit_run(rng: np.random.Generator) -> str:
    """A counter or an EAN-like run of digits, sometimes in groups."""
    if rng.random() < 0.3:
        return " ".join(_digits(rng, 4) for _ in range(int(rng.integers(2, 4))))
    return _digits(rng, int(rng.integers(6, 15)))


def numeric_lot(rng: np.random.Generator) -> str:
    """``2417-0045``: a lot or batch counter with digits only (seven-segment displays)."""
    return _digits(rng, 4) + "-" + _digits(rng, int(rng.integers(2, 5)))


def registration(rng: np.random.Generator) -> str:
    """``KAB 277``, ``4AGB754``, ``AB-12-CD``: two or three runs of letters or digits, each
    character drawn uniformly.

    Why uniform letters: vehicle, asset and equipment registrations use every letter about
    equally, while the other kinds are mostly digits; a classifier trained on those alone sees
    a ``K`` or an ``H`` in a large plate face a few dozen times in a whole training run.
    """
    n_runs = int(rng.integers(2, 4))
    runs = []
    letters = bool(rng.random() < 0.5)
    for _ in range(n_runs):
        alphabet = string.ascii_uppercase if letters else DIGITS
        runs.append(_uniform(rng, alphabet, int(rng.integers(2 if n_runs == 2 else 1, 5))))
        letters = not letters
    return pick(rng, (" ", "", "-", " ")).join(runs)


KINDS: dict[str, Callable[[np.random.Generator], str]] = {
    "sn": serial,
    "pn": part_number,
    "lot": lot_code,
    "date": date_code,
    "time": time_code,
    "digits": digit_run,
}


def numeric_date(rng: np.random.Generator) -> str:
    """``2024.11.07`` or ``07.11.24``: a date a seven-segment display can show."""
    y, m, d = _date_parts(rng)
    return pick(rng, (f"{y}.{m}.{d}", f"{d}.{m}.{y}", f"{d}.{m}.{y[2:]}", f"{y}-{m}-{d}"))


NUMERIC_KINDS: dict[str, Callable[[np.random.Generator], str]] = {
    "date": numeric_date,
    "time": time_code,
    "digits": digit_run,
    "lot": numeric_lot,
}
TWO_LINE_SHARE = 0.2


def random_code(
    rng: np.random.Generator, numeric: bool = False, two_line_share: float = TWO_LINE_SHARE
) -> tuple[str, str]:
    """``(text, kind)``; a two-line code joins two codes with ``\\n`` (kind ``two_line``).

    ``numeric`` keeps to digits and ``-.:`` for seven-segment displays, which cannot show letters.
    """
    kinds = NUMERIC_KINDS if numeric else KINDS
    names = tuple(kinds)
    if rng.random() < two_line_share:
        first, second = rng.choice(len(names), size=2, replace=False)
        return kinds[names[first]](rng) + "\n" + kinds[names[second]](rng), "two_line"
    kind = names[rng.integers(len(names))]
    return kinds[kind](rng), kind


# Formats of the code kinds, written from the templates above: what a production line printing
# each kind would configure its reader with (ocr2stage.formats: regular expressions over the code
# with whitespace removed). Dates and times allow every calendar value (days 01-31), not only the
# ones drawn here. tests/test_formats.py draws thousands of codes of each kind and checks that
# every one fits its format, so a template changed without its format fails there.
_D, _L = "[0-9]", "[0-9A-Z]"
_YEAR, _YY, _MONTH, _DAY = "20[0-9]{2}", "[0-9]{2}", "(?:0[1-9]|1[0-2])", "(?:0[1-9]|[12][0-9]|3[01])"
_HOUR, _MINUTE = "(?:[01][0-9]|2[0-3])", "[0-5][0-9]"
_TIME = f"{_HOUR}:{_MINUTE}(?::{_MINUTE})?"


def _any(*options: str) -> str:
    return "(?:" + "|".join(options) + ")"


def _groups(sizes: tuple[int, ...]) -> str:
    """Alphanumeric groups joined by one separator throughout: ``-`` or nothing (a space is layout)."""
    return _any("-".join(f"{_L}{{{n}}}" for n in sizes), f"{_L}{{{sum(sizes)}}}")


_PART_D, _PART_A = f"{_D}{{2,4}}", f"{_L}{{1,2}}"
SIZE_TYPES = (
    "22G1",
    "22G1",
    "42G1",
    "45G1",
    "45G1",
    "22R1",
    "42R1",
    "45R1",
    "22U1",
    "42U1",
    "22T1",
    "L5G1",
    "25G1",
    "22P1",
    "42P1",
)
"""ISO 6346 size and type codes drawn for container numbers (20/40/45 ft; general, reefer, open top...)."""


def container_number(rng: np.random.Generator) -> tuple[str, str]:
    """``(owner code + serial + check digit, size/type code)``, e.g. ``("CSQU3054383", "22G1")``:
    three letters, the category (U freight, J detachable equipment, Z chassis), six digits and
    the ISO 6346 check digit (python-stdnum)."""
    from stdnum import iso6346

    body = _uniform(rng, string.ascii_uppercase, 3) + pick(rng, ("U", "U", "U", "J", "Z")) + _digits(rng, 6)
    return body + iso6346.calc_check_digit(body), pick(rng, SIZE_TYPES)


CONTAINER_FORMAT = {"fields": "AAA[UJZ] NNNNNN C XXAN", "check": "iso6346"}
"""A container number and its size/type code: owner code, category, serial, check digit, then
two size characters, the type group's letter and a digit (ocr2stage.formats field string)."""

KIND_FORMATS: dict[str, str] = {
    "sn": _any("SN", "S/N", "SN:", "") + _any(*(_groups(g) for g in ((4, 5), (3, 4, 3), (6,), (2, 6), (10,), (5, 5)))),
    "pn": _any("PN", "P/N", "REF", "")
    + _any(
        rf"{_PART_D}-{_PART_D}/{_PART_A}\.{_PART_D}",
        f"{_PART_D}-{_PART_D}-{_PART_D}",
        rf"{_PART_A}{_PART_D}\.{_PART_D}\.{_PART_D}",
        f"{_PART_D}-{_PART_D}/{_PART_A}",
        rf"{_PART_D}\.{_PART_D}-{_PART_A}",
    ),
    "lot": _any(
        f"L{_D}{{2}}{_L}{_D}{{4}}", f"LOT:?{_L}{{5,7}}", f"(?:LOT|B)?{_L}{_D}{{4}}-{_D}{{2}}", f"{_D}{{4}}-{_D}{{2,4}}"
    ),
    "date": _any(
        rf"{_YEAR}\.{_MONTH}\.{_DAY}",
        rf"{_DAY}\.{_MONTH}\.(?:{_YEAR}|{_YY})",
        f"{_YY}/{_MONTH}/{_DAY}",
        f"(?:MFG)?{_YEAR}-{_MONTH}-{_DAY}",
        f"EXP{_MONTH}/{_YY}",
        f"EXP{_YEAR}-{_MONTH}",
        rf"BB{_MONTH}\.{_YEAR}",
        f"{_DAY}/{_MONTH}/{_YY}",
    ),
    "time": _any(rf"{_YEAR}\.{_MONTH}\.{_DAY}", rf"{_DAY}\.{_MONTH}\.{_YY}", "") + _TIME,
    "digits": f"{_D}{{6,14}}",
    "registration": _any(
        *(f"{a}{{2,4}}-?{b}{{2,4}}" for a, b in (("[A-Z]", _D), (_D, "[A-Z]"))),
        *(f"{a}{{1,4}}{s}{b}{{1,4}}{s}{a}{{1,4}}" for a, b in (("[A-Z]", _D), (_D, "[A-Z]")) for s in ("-", "")),
    ),
}
"""Kind -> format of its codes (the seven-segment variants of a kind included)."""
_ONE_LINE = _any(*(KIND_FORMATS[k] for k in KINDS))
TWO_LINE_PARTS = (_ONE_LINE, _ONE_LINE)
"""A two-line code: one code of any kind on each line (a sequence format, ocr2stage.formats)."""


def formats_manifest() -> dict[str, object]:
    """The ``formats`` entry of a generated set's manifest: one format per ``kind`` (docs/FORMATS.md)."""
    values: dict[str, object] = {k: {"regex": r} for k, r in KIND_FORMATS.items()}
    values["two_line"] = {"sequence": list(TWO_LINE_PARTS)}
    values["container"] = dict(CONTAINER_FORMAT)
    return {"by": "kind", "values": values}
