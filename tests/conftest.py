"""Shared fixtures: small real datasets rendered with a real font, and a run of a real engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont

# Ray (the tests marked ``ray``): every Ray process of this session uses token authentication, as the
# local Ray head of tests/test_scaling.py does. Set before anything imports ray, which reads it once:
# a driver given a head's address only sends the token when RAY_AUTH_MODE says so (Ray 2.60).
os.environ.setdefault("RAY_AUTH_MODE", "token")

CODES = ["SN7X4Q99", "LOT2024A", "AB12CD", "PN4471", "X9Y8Z7", "QA5S0G6"]


def render(text: str, size: tuple[int, int] = (300, 64)) -> Image.Image:
    """Black code on white, DejaVu Sans (shipped with matplotlib, so always present)."""
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 34)
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).text((10, 12), text, fill="black", font=font)
    return img


def make_dataset(root: Path, codes: list[str] = CODES) -> Path:
    (root / "images").mkdir(parents=True)
    lines = ["file,text"]
    for i, code in enumerate(codes):
        render(code).save(root / "images" / f"{i:03d}.png")
        lines.append(f"{i:03d}.png,{code}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def clean_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("clean"))
