"""How numbers read in the report: one place, so a figure looks the same in a sentence and a table."""

from __future__ import annotations

import math

from bench.metrics.significance import Interval

NA = "n/a"

VISIBLE = {" ": "\u2423", "\n": "\u23ce", "\t": "\u21e5", "": ""}
"""Characters that would be invisible in a diff or a table header."""


def _nan(x: float) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _missing(x: float | None) -> bool:
    return x is None or _nan(x)


def pct(x: float | None, digits: int = 1) -> str:
    return NA if x is None or _nan(x) else f"{100 * x:.{digits}f}%"


def ci(iv: Interval, digits: int = 1) -> str:
    """ "[96.1-98.9%]", or "" when the interval does not exist."""
    if _missing(iv.low) or _missing(iv.high):
        return ""
    return f"[{100 * iv.low:.{digits}f}\u2013{100 * iv.high:.{digits}f}%]"


def ms(x: float | None) -> str:
    if x is None or _nan(x):
        return NA
    return f"{x:.0f} ms" if x >= 10 else f"{x:.1f} ms"


def num(x: float | None, digits: int = 2) -> str:
    if x is None or _nan(x):
        return NA
    if isinstance(x, int) or float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.{digits}f}"


def pvalue(p: float | None) -> str:
    if p is None or _nan(p):
        return NA
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.01 else f"p={p:.2f}"


def points(delta: float | None) -> str:
    """A difference of two shares, in percentage points with a sign."""
    return NA if delta is None or _nan(delta) else f"{100 * delta:+.1f} pts"


def threshold(t: float | None) -> str:
    """A confidence threshold: -inf accepts every code, +inf none."""
    if t is None or _nan(t):
        return NA
    return "accept all" if t == -math.inf else "accept none" if t == math.inf else f"{t:.3f}"


def char(c: str) -> str:
    return VISIBLE.get(c, c)


FILTERS = {
    "pct": pct,
    "ci": ci,
    "ms": ms,
    "num": num,
    "pvalue": pvalue,
    "points": points,
    "char": char,
    "threshold": threshold,
}
