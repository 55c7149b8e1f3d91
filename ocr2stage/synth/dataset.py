"""Data sets on disk: per-image seeds, images/, labels.jsonl, manifest.json, contact sheet.

Why seeds come from ``SeedSequence(dataset_seed, spawn_key=(index,))``: image ``i`` is then
reproducible on its own, and two data sets with different seeds draw from unrelated streams,
so a training set generated on the fly can never contain a shipped test image. This module
does not import the benchmark harness: the fingerprint is written by ``bench datasets generate``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from .codes import formats_manifest
from .containers import CONTAINER_STYLES
from .render import CHARSET, STYLES, Sample, render_sample
from .sheet import contact_sheet

RECIPE = "ocr2stage.synth/4"  # bump when rendering changes: same seed, different pixels
# /4: nameplates draw from 152 faces (FHWA highway series, npm @fontsource faces);
#     the six code styles still render as in /1.
# /3: nameplates draw from 18 faces, not 13; the six code styles still render as in /1.
# /2: nameplate codes include registrations; the six code styles (the shipped `serials`) render as in /1.
TEST_SEEDS: dict[str, int] = {"serials": 20261125, "containers": 20261128}
GENERATOR_STYLES: tuple[str, ...] = (*STYLES, *CONTAINER_STYLES)
"""Every style a data set may be generated in: ``STYLES`` (drawn by ``render_sample``) and the
container layouts, which only a set that names them gets."""
_IMAGE_NAME = re.compile(r"^\d{6}\.png$")


def sample_seed(dataset_seed: int, index: int) -> np.random.SeedSequence:
    """Seed of image ``index`` of the data set generated from ``dataset_seed``."""
    return np.random.SeedSequence(dataset_seed, spawn_key=(index,))


def generated_samples(dataset_seed: int, start: int, count: int) -> Iterator[tuple[int, Sample]]:
    """``(index, Sample)`` of generated images ``start .. start+count-1``, styles in turn."""
    for i in range(start, start + count):
        yield i, render_sample(sample_seed(dataset_seed, i), style=STYLES[i % len(STYLES)])


def label_row(file: str, sample: Sample) -> dict:
    """The labels.jsonl row of ``sample`` (docs/FORMATS.md); boxes rounded to 1/100 px."""
    return {
        "file": file,
        "text": sample.text,
        "chars": [{"char": c, "box": [round(v, 2) for v in box]} for c, box in sample.chars],
        "meta": sample.meta,
    }


def save_png(sample: Sample, path: Path) -> None:
    """Write the image; a monochrome camera's image is stored with one channel (same pixels)."""
    image = sample.image.convert("L") if sample.meta.get("camera") == "mono" else sample.image
    image.save(path, "PNG", compress_level=9)


def generate_dataset(
    out_dir: Path,
    n: int,
    seed: int,
    styles: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Render ``n`` images into ``out_dir`` with styles taken in turn (equal shares).

    Writes ``images/NNNNNN.png``, ``labels.jsonl``, ``manifest.json`` (without fingerprint)
    and ``contact_sheet.png``; image files of an earlier generation in ``images/`` are removed
    so that the folder holds exactly this set. ``progress`` is called with the number of images
    just written (1 per image), as a progress bar's ``advance`` expects.
    """
    styles = tuple(STYLES if styles is None else styles)
    unknown = sorted(set(styles) - set(GENERATOR_STYLES))
    if unknown or not styles:
        raise ValueError(f"unknown or no styles {unknown}; known: {', '.join(GENERATOR_STYLES)}")
    out_dir = Path(out_dir)
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    for old in images.iterdir():
        if _IMAGE_NAME.match(old.name):
            old.unlink()
    with (out_dir / "labels.jsonl").open("w") as labels:
        for i in range(n):
            style = styles[i % len(styles)]
            render = CONTAINER_STYLES.get(style, partial(render_sample, style=style))
            sample = render(sample_seed(seed, i))
            file = f"{i:06d}.png"
            save_png(sample, images / file)
            labels.write(json.dumps(label_row(file, sample)) + "\n")
            if progress is not None:
                progress(1)
    (out_dir / "manifest.json").write_text(json.dumps(manifest(out_dir.name, n, seed, styles), indent=2) + "\n")
    contact_sheet(out_dir).save(out_dir / "contact_sheet.png", optimize=True)
    return out_dir


def manifest(name: str, n: int, seed: int, styles: Sequence[str]) -> dict:
    """manifest.json of a generated set: whole-code readout, case and spaces ignored."""
    test = seed in TEST_SEEDS.values()
    return {
        "name": name,
        "description": f"Synthetic industrial codes ({n} images; styles {', '.join(styles)}) rendered by "
        f"{RECIPE} from seed {seed}.{' A test set: never train on it.' if test else ''}",
        **({"evaluation_only": True} if test else {}),
        "charset": CHARSET,
        "readout": "all_lines",
        "normalize": {"uppercase": True, "remove_whitespace": True},
        "formats": formats_manifest(),
        "generator": {"recipe": RECIPE, "seed": seed, "styles": list(styles), "n": n},
    }
