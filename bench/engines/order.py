"""Reading order for engines that return loose text boxes (EasyOCR, PaddleOCR).

Two boxes are on one line when each one's vertical centre lies within the other's height and
their heights differ by less than half (so a small caption beside a tall code is not merged into
it); lines go top to bottom, boxes within a line left to right and are joined with a space.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.engines.base import Box, Line


def quad_to_box(points: Sequence[Sequence[float]]) -> Box:
    xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _same_line(a: Box, b: Box) -> bool:
    ca, cb = (a[1] + a[3]) / 2, (b[1] + b[3]) / 2
    ha, hb = a[3] - a[1], b[3] - b[1]
    return a[1] <= cb <= a[3] and b[1] <= ca <= b[3] and min(ha, hb) >= 0.5 * max(ha, hb)


def into_lines(fragments: Sequence[tuple[str, Box, float]]) -> tuple[Line, ...]:
    """Group (text, box, confidence) fragments into lines in reading order."""
    rows: list[list[tuple[str, Box, float]]] = []
    for frag in sorted(fragments, key=lambda f: (f[1][1] + f[1][3]) / 2):
        row = next((r for r in rows if any(_same_line(b, frag[1]) for _, b, _ in r)), None)
        if row is None:
            rows.append([frag])
        else:
            row.append(frag)
    lines = []
    for row in rows:
        row.sort(key=lambda f: f[1][0])
        box = (
            min(b[0] for _, b, _ in row),
            min(b[1] for _, b, _ in row),
            max(b[2] for _, b, _ in row),
            max(b[3] for _, b, _ in row),
        )
        conf = min(c for _, _, c in row)
        lines.append(Line(text=" ".join(t for t, _, _ in row), box=box, confidence=conf))
    return tuple(lines)
