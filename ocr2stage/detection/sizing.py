"""CRAFT input sizes, shared by stage 1 and the int8 calibration so both use the same rule.

Why a module of its own: the int8 backbone is calibrated in ``craft.py`` on inputs of the
detector's first-pass size, and ``detector.py`` imports ``craft.py``.
"""

from __future__ import annotations

FIRST_HEIGHT = 64
MAX_SIDE = 1536


def round32(v: float) -> int:
    """CRAFT's input sides are multiples of 32 (its VGG pools five times)."""
    return max(32, int(round(v / 32.0)) * 32)


def scaled(h: int, w: int, factor: float, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """(width, height) of an h x w image scaled by ``factor``, no side above ``max_side``."""
    factor = min(factor, max_side / max(h, w))
    return round32(w * factor), round32(h * factor)


def first_factor(h: int, w: int, first_height: int) -> float:
    """Scale of the first pass. A wide image is most likely one line filling its height; a
    squarer one holds several lines or margin, so its characters are a smaller share of it."""
    lines_guess = 1.0 if w >= 3 * h else 2.0
    return first_height * lines_guess / h
