"""Reading order for engines that return loose text boxes (EasyOCR, PaddleOCR).

Boxes whose vertical centres fall inside each other's height are one line; lines go top to
bottom, boxes within a line left to right and are joined with a space.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.engines.base import Box, Line


def quad_to_box(points: Sequence[Sequence[float]]) -> Box:
    xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def into_lines(fragments: Sequence[tuple[str, Box, float]]) -> tuple[Line, ...]:
    """Group (text, box, confidence) fragments into lines in reading order."""
    rows: list[list[tuple[str, Box, float]]] = []
    for frag in sorted(fragments, key=lambda f: (f[1][1] + f[1][3]) / 2):
        cy = (frag[1][1] + frag[1][3]) / 2
        row = rows[-1] if rows else None
        if row and any(b[1] <= cy <= b[3] for _, b, _ in row):
            row.append(frag)
        else:
            rows.append([frag])
    lines = []
    for row in rows:
        row.sort(key=lambda f: f[1][0])
        box = (min(b[0] for _, b, _ in row), min(b[1] for _, b, _ in row),
               max(b[2] for _, b, _ in row), max(b[3] for _, b, _ in row))
        conf = min(c for _, _, c in row)
        lines.append(Line(text=" ".join(t for t, _, _ in row), box=box, confidence=conf))
    return tuple(lines)
