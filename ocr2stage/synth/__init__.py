"""Deterministic synthetic images of industrial codes (serials, part numbers, lot and date codes).

Six marking styles (laser etching, dot-matrix inkjet, thermal labels, embossing, segment
displays, OCR fonts), camera degradations on top, and one exact box per character; usable
without the benchmark harness.
"""

from .dataset import GENERATOR_STYLES, RECIPE, TEST_SEEDS, generate_dataset, sample_seed
from .fonts import MissingFontError
from .render import CHARSET, STYLES, Sample, render_sample
from .sheet import contact_sheet

__all__ = [
    "CHARSET",
    "GENERATOR_STYLES",
    "RECIPE",
    "STYLES",
    "TEST_SEEDS",
    "MissingFontError",
    "Sample",
    "contact_sheet",
    "generate_dataset",
    "render_sample",
    "sample_seed",
]
