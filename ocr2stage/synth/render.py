"""One synthetic sample: pick a style, render the marking, put it through the camera.

Why a SeedSequence per image: each image is a pure function of its seed, so a data set is
reproducible image by image, and a training stream can spawn fresh seeds that provably never
collide with a test set's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ocr2stage.geometry import Box

from .degrade import geometry, photometric
from .styles import RENDERERS, Flat

STYLES: tuple[str, ...] = tuple(RENDERERS)
CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-./: "


@dataclass(frozen=True)
class Sample:
    """A rendered code image and its truth.

    ``text`` has ``\\n`` between the lines of a two-line code; ``chars`` holds one
    ``(char, (x0, y0, x1, y1))`` per non-whitespace character of ``text`` in reading order, the
    box in pixels of ``image``; ``meta`` records the style, the code kind and every parameter.
    """

    image: Image.Image
    text: str
    chars: list[tuple[str, Box]]
    meta: dict[str, str | float | int]


def render_sample(seed: int | np.random.SeedSequence, style: str | None = None) -> Sample:
    """Render the sample of ``seed`` (deterministic); ``style`` defaults to one drawn from the seed."""
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rng = np.random.default_rng(sequence)
    if style is None:
        style = STYLES[rng.integers(len(STYLES))]
    elif style not in RENDERERS:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    return photographed(rng, RENDERERS[style](rng))


def photographed(rng: np.random.Generator, flat: Flat, max_height: int | None = None) -> Sample:
    """A flat marking as a camera sees it: warped, cropped and scaled (:func:`geometry`), then lit,
    blurred and noised (:func:`photometric`); every renderer's last step."""
    meta = dict(flat.meta)
    pixels, chars = geometry(rng, flat, meta, max_height=max_height)
    image = photometric(rng, pixels, flat.cap_height * float(meta["scale"]), meta)
    return Sample(image, flat.text, chars, meta)
