"""Glyphs and layout: text -> ink coverage mask plus one exact box per drawn character.

Why each character is drawn on its own: its box is then the bound of its own ink (not of a font
metric), so boxes stay exact for dot-matrix dots, zero-width segment-display points and italic
fonts alike; the geometric stage later carries these boxes through every warp.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ocr2stage.geometry import Box

from .fonts import font_for_cap_height

INK_THRESHOLD = 0.25  # coverage above which a pixel counts as ink for the box


@dataclass(frozen=True)
class Glyph:
    """Coverage bitmap (float32 in [0, 1]) placed at ``(left, top)`` from the pen position."""

    bitmap: np.ndarray
    left: int
    top: int
    advance: float


@dataclass(frozen=True)
class Layout:
    """Ink coverage of a block of text with a margin around it, and the per-character boxes."""

    mask: np.ndarray
    chars: list[tuple[str, Box]]
    cap_height: float


GlyphSource = Callable[[str], Glyph]


def ink_box(bitmap: np.ndarray, x: int, y: int) -> Box | None:
    """Bound of the pixels of ``bitmap`` above the ink threshold, offset by ``(x, y)``."""
    ys, xs = np.nonzero(bitmap > INK_THRESHOLD)
    if xs.size == 0:
        return None
    return (float(x + xs.min()), float(y + ys.min()), float(x + xs.max() + 1), float(y + ys.max() + 1))


def layout(
    lines: Sequence[str],
    glyph: GlyphSource,
    *,
    cap_height: float,
    line_pitch: float,
    tracking: float,
    space_advance: float,
    margin: int,
    align: str = "left",
) -> Layout:
    """Lay ``lines`` out top to bottom; ``align`` is ``left`` or ``center``.

    Pen positions are rounded to whole pixels so a bitmap pastes without resampling.
    """
    placed: list[list[tuple[str, Glyph | None, float]]] = []
    widths = []
    for line in lines:
        pen, row = 0.0, []
        for ch in line:
            g = None if ch == " " else glyph(ch)
            row.append((ch, g, pen))
            pen += (space_advance if g is None else g.advance) + tracking
        placed.append(row)
        widths.append(pen - tracking)
    block_w = max(widths)
    extents = [g.top + g.bitmap.shape[0] for row in placed for _, g, _ in row if g is not None]
    height = int(np.ceil(line_pitch * (len(lines) - 1) + max(extents))) + 2 * margin
    width = int(np.ceil(block_w)) + 2 * margin + int(np.ceil(cap_height))
    mask = np.zeros((height, width), np.float32)
    chars: list[tuple[str, Box]] = []
    for i, row in enumerate(placed):
        x_line = margin + (block_w - widths[i]) / 2 if align == "center" else margin
        y_line = margin + round(i * line_pitch)
        for ch, g, pen in row:
            if g is None:
                continue
            x, y = round(x_line + pen) + g.left, y_line + g.top
            h, w = g.bitmap.shape
            np.maximum(mask[y : y + h, x : x + w], g.bitmap, out=mask[y : y + h, x : x + w])
            box = ink_box(g.bitmap, x, y)
            if box is None:
                raise ValueError(f"glyph {ch!r} drew no ink")
            chars.append((ch, box))
    return Layout(mask, chars, cap_height)


@lru_cache(maxsize=8192)
def _font_glyph(font_key: str, cap_height: int, ch: str) -> Glyph:
    font = font_for_cap_height(font_key, cap_height)
    left, top, right, bottom = font.getbbox(ch)
    # a FreeType font's bbox is in whole pixels; Pillow's stubs type it float
    image = Image.new("L", (max(1, right - left), max(1, bottom - top)))  # type: ignore[arg-type]
    ImageDraw.Draw(image).text((-left, -top), ch, font=font, fill=255)
    bitmap = np.asarray(image, np.float32) / 255.0
    bitmap.setflags(write=False)
    return Glyph(bitmap, left, top, font.getlength(ch))  # type: ignore[arg-type]  # whole pixels, as above


def font_glyphs(font_key: str, cap_height: int) -> GlyphSource:
    """Glyphs of a TrueType/OpenType font whose capitals are ``cap_height`` pixels tall."""
    return lambda ch: _font_glyph(font_key, cap_height, ch)


def font_layout(
    lines: Sequence[str],
    font_key: str,
    cap_height: int,
    *,
    tracking: float,
    line_gap: float,
    margin: int,
    align: str = "left",
    space_advance: float | None = None,
) -> Layout:
    """Layout in a font; ``line_gap`` is the blank between lines in cap heights."""
    font = font_for_cap_height(font_key, cap_height)
    top = font.getbbox("H")[1]
    return layout(
        lines,
        font_glyphs(font_key, cap_height),
        cap_height=cap_height,
        line_pitch=cap_height * (1 + line_gap),
        tracking=tracking,
        space_advance=font.getlength(" ") if space_advance is None else space_advance,
        margin=margin - top,  # type: ignore[arg-type]  # bbox top: whole pixels
        align=align,
    )


# 5x7 dot-matrix font of continuous-inkjet coders ("#" = a dot). The zero carries a slash, as on
# most coders, so that 0 and O stay distinguishable.
DOT_FONT: dict[str, tuple[str, ...]] = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    "-": (".....", ".....", ".....", "#####", ".....", ".....", "....."),
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    "/": (".....", "....#", "...#.", "..#..", ".#...", "#....", "....."),
    ":": (".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."),
}
DOT_COLUMNS, DOT_ROWS = 5, 7
_DOTS = {ch: np.argwhere(np.array([[c == "#" for c in row] for row in rows])) for ch, rows in DOT_FONT.items()}


@dataclass(frozen=True)
class DotPrint:
    """How an inkjet head lays dots: pitch in pixels, dot radius and jitter as pitch fractions."""

    pitch: float
    radius: float
    jitter: float
    missing: float

    def glyph_source(self, rng: np.random.Generator) -> GlyphSource:
        """Glyphs drawn dot by dot; at most one dot per character goes missing (never on marks of
        four dots or fewer, so ``.`` and ``:`` survive) and every dot wanders and varies in size."""
        return lambda ch: self._glyph(rng, ch)

    def _glyph(self, rng: np.random.Generator, ch: str) -> Glyph:
        dots = _DOTS[ch]
        keep = np.ones(len(dots), bool)
        if len(dots) > 4 and rng.random() < self.missing * len(dots):
            keep[rng.integers(len(dots))] = False
        pad = int(np.ceil(self.pitch))
        h = int(np.ceil(self.pitch * DOT_ROWS)) + 2 * pad
        w = int(np.ceil(self.pitch * DOT_COLUMNS)) + 2 * pad
        canvas = np.zeros((h, w), np.uint8)
        shift = 4  # sub-pixel precision of cv2.circle: 1/16 px
        centres = (dots[:, ::-1] + 0.5) * self.pitch + pad + rng.normal(0, self.jitter * self.pitch, dots.shape)
        radii = self.radius * self.pitch * rng.uniform(0.85, 1.15, len(dots))
        levels = rng.uniform(180, 255, len(dots))
        for (cx, cy), r, level, k in zip(centres, radii, levels, keep, strict=True):
            if k:
                cv2.circle(
                    canvas, (round(cx * 16), round(cy * 16)), max(16, round(r * 16)), int(level), -1, cv2.LINE_AA, shift
                )
        return Glyph(canvas.astype(np.float32) / 255.0, -pad, -pad, self.pitch * (DOT_COLUMNS + 1))
