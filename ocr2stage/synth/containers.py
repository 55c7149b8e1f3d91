"""Shipping-container numbers (ISO 6346) painted on a container's corrugated steel, horizontal or
stacked one character a row as on container doors; a generator entry point of its own.

Why a separate entry point: the codes of the other styles carry no check character, so check
digits could not be tested on them; and adding a style to ``STYLES`` would change which style a
seed draws, so every generated training image and the shipped ``serials`` would change. Here
nothing of theirs is touched: ``render_container(seed)`` draws from its own seeds.
Why stacked: a line recogniser has no reading order for a column of single characters, a
character reader does.

``bench datasets generate containers --styles container_horizontal,container_stacked`` writes a
data set of them (``generate_dataset`` takes the styles of :data:`CONTAINER_STYLES` in turn).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .codes import container_number, pick
from .degrade import MAX_HEIGHT
from .glyphs import font_layout
from .materials import plastic, smooth_noise
from .render import Sample, photographed
from .styles import MARGIN_CAPS, Flat, Meta, _blur, _over

CONTAINER_FONTS = (
    "dejavu_sans_bold",
    "liberation_sans_bold",
    "dejavu_condensed_bold",
    "liberation_narrow_bold",
    "roboto_condensed_bold",
    "freesans_bold",
)
CONTAINER_PAINTS = {
    "red": (0.62, 0.16, 0.12),
    "blue": (0.14, 0.27, 0.55),
    "green": (0.2, 0.42, 0.27),
    "grey": (0.55, 0.56, 0.56),
    "orange": (0.85, 0.45, 0.12),
    "white": (0.88, 0.88, 0.86),
    "brown": (0.42, 0.26, 0.17),
}
LAYOUTS = ("horizontal", "stacked")


def _corrugated(rng: np.random.Generator, h: int, w: int, color: tuple[float, float, float], cap: float) -> np.ndarray:
    """Painted corrugated steel: light and shade across the vertical ribs, dirt and rust blotches."""
    bg = plastic(rng, h, w, color)
    period = cap * rng.uniform(1.5, 3.5)
    phase = rng.uniform(0, 2 * np.pi)
    ribs = 1 + rng.uniform(0.05, 0.2) * np.sin(2 * np.pi * np.arange(w) / period + phase)
    dirt = np.clip(smooth_noise(rng, h, w, cap * rng.uniform(0.5, 2.0)) - rng.uniform(0.5, 1.2), 0, 1)
    return _over(bg * ribs[None, :, None].astype(np.float32), (0.3, 0.2, 0.12), dirt * rng.uniform(0.2, 0.6))


def container_flat(rng: np.random.Generator, layout: str) -> Flat:
    """The painted number before the camera: ``horizontal`` (number, then the size/type code
    below) or ``stacked`` (each character of the number on its own row, the size/type code below)."""
    number, size_type = container_number(rng)
    if layout == "horizontal":
        lines = [f"{number[:4]} {number[4:10]} {number[10]}", size_type]
        cap = int(rng.integers(24, 41))
        gap = rng.uniform(0.4, 0.8)
    else:
        lines = [*number, size_type]
        cap = int(rng.integers(16, 25))
        gap = rng.uniform(0.15, 0.45)
    font = pick(rng, CONTAINER_FONTS)
    lay = font_layout(
        lines,
        font,
        cap,
        tracking=cap * rng.uniform(0.0, 0.15),
        line_gap=gap,
        margin=int(MARGIN_CAPS * cap),
        align=pick(rng, ("left", "center")) if layout == "horizontal" else "center",
    )
    h, w = lay.mask.shape
    paint = pick(rng, tuple(CONTAINER_PAINTS))
    bg = _corrugated(rng, h, w, CONTAINER_PAINTS[paint], cap)
    ink = (0.08, 0.08, 0.08) if paint in ("white", "orange") else (0.93, 0.93, 0.9)
    wear = rng.uniform(0.75, 0.97) * (1 + 0.15 * smooth_noise(rng, h, w, cap / 2))
    image = _over(bg, ink, _blur(lay.mask, rng.uniform(0.3, 0.9)) * wear)
    meta: Meta = {
        "style": "container",
        "kind": "container",
        "layout": layout,
        "font": font,
        "cap_height": cap,
        "paint": paint,
    }
    return Flat(np.clip(image, 0, 1).astype(np.float32), "\n".join(lines), lay.chars, cap, meta)


def render_container(seed: int | np.random.SeedSequence, layout: str | None = None) -> Sample:
    """The container image of ``seed`` (deterministic); ``layout`` defaults to one drawn from the seed.
    A stacked number may be up to six times as tall as a code line (its rows keep a code's scale)."""
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rng = np.random.default_rng(sequence)
    if layout is None:
        layout = LAYOUTS[rng.integers(len(LAYOUTS))]
    elif layout not in LAYOUTS:
        raise ValueError(f"unknown container layout {layout!r}; known: {', '.join(LAYOUTS)}")
    return photographed(rng, container_flat(rng, layout), max_height=MAX_HEIGHT * (6 if layout == "stacked" else 1))


CONTAINER_STYLES = {f"container_{layout}": partial(render_container, layout=layout) for layout in LAYOUTS}
"""Generator styles of their own (``bench datasets generate containers --styles container_horizontal,
container_stacked``): never drawn by ``render_sample``, so no other image changes."""
