"""The real engines, real weights, on real rendered codes."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import CODES, render

from bench.engines import UnknownEngine, availability, engine_class, engine_names
from bench.engines.base import Engine
from bench.metrics.text import cer
from bench.weights import EASYOCR_WEIGHTS, WeightsError, easyocr_model_dir, verify

PEERS = ["easyocr", "paddleocr", "tesseract"]


@pytest.fixture(scope="module", params=PEERS)
def engine(request) -> Engine:
    reason = availability(request.param)
    assert reason is None, reason  # installed by scripts/setup.sh: must be available in CI
    return engine_class(request.param)(device="cpu")


def test_engine_reads_rendered_codes(engine: Engine):
    images = [np.asarray(render(code)) for code in CODES]
    readings = engine.read(images)
    assert len(readings) == len(CODES)
    texts = ["".join(ln.text for ln in r.lines).replace(" ", "").upper() for r in readings]
    # Clean black-on-white text: every peer reads it nearly right; the exact misses (EasyOCR's
    # 7->Z, 0->O ...) are what the benchmark measures, not what this test is about.
    assert sum(t == c for t, c in zip(texts, CODES)) >= len(CODES) // 2, texts
    assert sum(cer(c, t) for t, c in zip(texts, CODES)) / len(CODES) < 0.2, texts
    for r in readings:
        for ln in r.lines:
            assert ln.box is not None and 0 <= ln.box[0] < ln.box[2] <= 300 and ln.confidence is not None


def test_engine_description_is_attributable(engine: Engine):
    info = engine.describe()
    assert info.name in PEERS and info.device == "cpu"
    assert info.versions and info.weights
    assert all(v.startswith(("md5:", "sha256:")) for v in info.weights.values())
    if info.name == "paddleocr":
        assert "PP-OCRv5_mobile" in info.label and "v6" not in info.label


def test_engine_blank_and_tiny_images_give_empty_readings(engine: Engine):
    blank, tiny = np.full((64, 200, 3), 255, np.uint8), np.zeros((3, 3, 3), np.uint8)
    assert [r.lines for r in engine.read([blank, tiny])] == [(), ()]


def test_unknown_engine_is_named():
    assert set(PEERS) <= set(engine_names())
    with pytest.raises(UnknownEngine, match="unknown engine 'nope'"):
        engine_class("nope")


def test_corrupt_weight_file_is_refused(tmp_path: Path):
    src = easyocr_model_dir() / "english_g2.pth"
    bad = tmp_path / "english_g2.pth"
    shutil.copy(src, bad)
    with bad.open("r+b") as f:
        f.seek(1000)
        f.write(b"\0\0\0\0")
    with pytest.raises(WeightsError, match="corrupt weight file: .*english_g2.pth"):
        verify(bad, EASYOCR_WEIGHTS["english_g2.pth"])
    with pytest.raises(WeightsError, match="missing weight file"):
        verify(tmp_path / "craft_mlt_25k.pth", EASYOCR_WEIGHTS["craft_mlt_25k.pth"])
