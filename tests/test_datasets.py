"""Dataset loading and bad input: every problem names its item, nothing else is lost."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.datasets import DatasetError, ImageError, fingerprint, load_dataset, load_image
from conftest import make_dataset, render


def test_csv_dataset_loads_and_fingerprint_is_stable(clean_dataset: Path):
    ds = load_dataset(str(clean_dataset))
    assert [it.text for it in ds.items][:2] == ["SN7X4Q99", "LOT2024A"]
    assert ds.problems == []
    assert fingerprint(clean_dataset) == fingerprint(clean_dataset)


def test_fingerprint_changes_with_one_pixel(tmp_path: Path):
    root = make_dataset(tmp_path / "d", ["AB1"])
    before = fingerprint(root)
    img = Image.open(root / "images" / "000.png").convert("RGB")
    img.putpixel((0, 0), (0, 0, 0))
    img.save(root / "images" / "000.png")
    assert fingerprint(root) != before


def test_bad_label_rows_are_named_and_skipped(tmp_path: Path):
    root = make_dataset(tmp_path / "d", ["AB1", "CD2"])
    raw = (root / "labels.csv").read_bytes() + b"003.png,\n" + b"004.png,\xff\xfeBAD\n" + b"justonefield\n" + b"000.png,DUP\n"
    (root / "labels.csv").write_bytes(raw)
    ds = load_dataset(str(root))
    assert [it.file for it in ds.items] == ["000.png", "001.png"]
    joined = "\n".join(ds.problems)
    assert "003.png: empty label" in joined
    assert "labels.csv line 5: not UTF-8" in joined
    assert "line 6: expected 'file,text'" in joined
    assert "000.png: duplicate label row" in joined


def test_jsonl_with_chars_and_meta(tmp_path: Path):
    root = tmp_path / "j"
    (root / "images").mkdir(parents=True)
    render("A1").save(root / "images" / "a.png")
    (root / "labels.jsonl").write_text(
        '{"file": "a.png", "text": "A1", "chars": [{"char": "A", "box": [10, 12, 30, 50]}, {"char": "1", "box": [32, 12, 50, 50]}], "meta": {"style": "ocr_font"}}\n'
        "{not json\n"
    )
    ds = load_dataset(str(root))
    assert ds.items[0].meta == {"style": "ocr_font"} and len(ds.items[0].chars) == 2
    assert "labels.jsonl line 2: bad row" in ds.problems[0]


def test_unknown_dataset_and_bad_header(tmp_path: Path):
    with pytest.raises(DatasetError, match="unknown dataset 'no-such-set'"):
        load_dataset("no-such-set")
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "labels.csv").write_text("name,label\na.png,X\n")
    with pytest.raises(DatasetError, match="header 'file,text'"):
        load_dataset(str(tmp_path / "h"))


def test_image_modes_become_rgb8(tmp_path: Path):
    gray = Image.fromarray(np.full((8, 9), 128, np.uint8), "L")
    rgba = Image.fromarray(np.zeros((8, 9, 4), np.uint8), "RGBA")  # fully transparent -> white
    deep = Image.fromarray(np.arange(72, dtype=np.uint16).reshape(8, 9) * 900)
    for name, im in {"g.png": gray, "a.png": rgba, "d.png": deep}.items():
        im.save(tmp_path / name)
    g, a, d = (load_image(tmp_path / n) for n in ("g.png", "a.png", "d.png"))
    assert g.shape == a.shape == d.shape == (8, 9, 3) and g.dtype == a.dtype == d.dtype == np.uint8
    assert (a == 255).all()
    assert d.min() == 0 and d.max() == 255


def test_corrupt_truncated_missing_and_huge_images(tmp_path: Path):
    render("AB").save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    Image.new("L", (8000, 6000)).save(tmp_path / "huge.png")
    with pytest.raises(ImageError, match="trunc.png"):
        load_image(tmp_path / "trunc.png")
    with pytest.raises(ImageError, match="corrupt or unreadable image: junk.jpg"):
        load_image(tmp_path / "junk.jpg")
    with pytest.raises(ImageError, match="image not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="image too large: huge.png is 8000x6000"):
        load_image(tmp_path / "huge.png")
