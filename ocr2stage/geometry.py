"""Shared geometry types: the one ``Box`` alias of the library (generator, stage 1, stage 2)."""

from __future__ import annotations

Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` in pixels of the image, x to the right, y down."""
