"""Dataset loading and bad input: every problem names its item, nothing else is lost."""

from pathlib import Path

import numpy as np
import pytest
from conftest import make_dataset, render
from PIL import Image

from bench.datasets import DatasetError, ImageError, fingerprint, load_dataset, load_image


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
    raw = (
        (root / "labels.csv").read_bytes()
        + b"003.png,\n"
        + b"004.png,\xff\xfeBAD\n"
        + b"justonefield\n"
        + b"000.png,DUP\n"
    )
    (root / "labels.csv").write_bytes(raw)
    ds = load_dataset(str(root))
    assert [it.file for it in ds.items] == ["000.png", "001.png"]
    joined = "\n".join(ds.problems)
    assert "003.png: empty label" in joined
    assert "labels.csv line 5: not UTF-8" in joined
    assert "line 6: expected 2 fields 'file,text', got 1" in joined
    assert "000.png: duplicate label row" in joined


def test_jsonl_with_chars_and_meta(tmp_path: Path):
    root = tmp_path / "j"
    (root / "images").mkdir(parents=True)
    render("A1").save(root / "images" / "a.png")
    (root / "labels.jsonl").write_text(
        '{"file": "a.png", "text": "A1", "chars": [{"char": "A", "box": [10, 12, 30, 50]}, '
        '{"char": "1", "box": [32, 12, 50, 50]}], "meta": {"style": "ocr_font"}}\n'
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


def bomb(path: Path, side: int = 30000) -> Path:
    """A ``side`` x ``side`` PNG a few kB on disk: the header says ``side**2`` pixels."""
    Image.new("1", (side, side)).save(path)
    return path


def test_decompression_bomb_is_refused_from_the_header(tmp_path: Path):
    """Issue 25.1: PIL's DecompressionBombError used to kill the worker; every size is now an ImageError."""
    for side in (30000, 12000, 7000):  # over PIL's hard limit, over its warning limit, over ours
        path = bomb(tmp_path / f"bomb{side}.png", side)
        assert path.stat().st_size < 2_000_000
        with pytest.raises(ImageError, match=f"image too large: bomb{side}.png"):
            load_image(path)


def _jsonl_dataset(root: Path, rows: list[str]) -> Path:
    (root / "images").mkdir(parents=True)
    render("A1").save(root / "images" / "a.png")
    (root / "labels.jsonl").write_text("".join(r + "\n" for r in rows))
    return root


BAD_ROWS = {
    '{"file": "a.png", "text": 57007}': "'text' must be a string",
    '{"file": "a.png", "text": null}': "'text' must be a string",
    '{"file": 12345, "text": "A1"}': "'file' must be a non-empty string",
    '{"file": "a.png", "text": "A1", "meta": ["x"]}': "'meta' must be an object",
    '{"file": "a.png", "text": "A1", "meta": {"style": {"a": 1}}}': "'meta.style' must be a string, number",
    '{"file": "a.png", "text": "A1", "chars": "nope"}': "'chars' must be a list",
    '{"file": "a.png", "text": "A1", "chars": [{"char": "A", "box": [1, 2, 3]}]}': "'chars' must be a list",
    '["a.png", "A1"]': "a row is a JSON object, not list",
    '{"text": "A1"}': "missing 'file'",
}


def test_wrongly_typed_jsonl_rows_are_listed_and_skipped(tmp_path: Path):
    """Issue 25.3: each of these ended a run with a traceback (some mid-run); now listed at load."""
    good = '{"file": "a.png", "text": "A1", "meta": {"style": "x", "blur": 0.5, "ok": true, "none": null}}'
    root = _jsonl_dataset(tmp_path / "d", [*BAD_ROWS, good])
    ds = load_dataset(str(root))
    assert [it.file for it in ds.items] == ["a.png"] and ds.items[0].meta["blur"] == 0.5
    assert len(ds.problems) == len(BAD_ROWS)
    for no, (problem, expected) in enumerate(zip(ds.problems, BAD_ROWS.values()), start=1):
        assert problem.startswith(f"labels.jsonl line {no}: bad row (") and expected in problem, problem


BAD_MANIFESTS = {
    '{"readout": "middle_line"}': "field 'readout' is 'middle_line'; choose one of all_lines",
    "[]": "a manifest is a JSON object, not a list",
    '{"normalize": "yes"}': "field 'normalize' must be an object, not a string",
    '{"pattern": "^[A-Z"}': "field 'pattern' is not a valid regular expression",
    '{"normalize": {"uppercse": true}}': "field 'normalize.uppercse' is unknown",
    '{"normalize": {"uppercase": "yes"}}': "field 'normalize.uppercase' must be true/false",
    '{"normalize": {"map": {"O": 0}}}': "field 'normalize.map.O' must map",
    '{"normalize": {"unicode": "NFD"}}': "field 'normalize.unicode' is 'NFD'; choose one of NFKC, none",
    '{"name": 7}': "field 'name' must be a string, not a number",
    '{"evaluation_only": "yes"}': "field 'evaluation_only' must be true/false",
}


@pytest.mark.parametrize("manifest", BAD_MANIFESTS)
def test_invalid_manifest_is_refused_naming_the_field(manifest: str, tmp_path: Path):
    """Issue 25.4: validated when the dataset loads (the CLI exits 2 with this message, test_runner)."""
    root = make_dataset(tmp_path / "d", ["AB1"])
    (root / "manifest.json").write_text(manifest)
    with pytest.raises(DatasetError, match="manifest.json: ") as e:
        load_dataset(str(root))
    assert BAD_MANIFESTS[manifest] in str(e.value)


def test_label_paths_are_confined_to_images(tmp_path: Path):
    """Issue 25.5: ``..``, an absolute path and a symlink leading out are refused per row, listed."""
    other = make_dataset(tmp_path / "other", ["ZZ9"])
    root = make_dataset(tmp_path / "d", ["AB1"])
    (root / "images" / "sub").mkdir()
    render("CD2").save(root / "images" / "sub" / "in.png")
    (root / "images" / "link.png").symlink_to(other / "images" / "000.png")
    (root / "images" / "inner.png").symlink_to(root / "images" / "000.png")  # a link inside is fine
    outside = ["../../other/images/000.png", str(other / "images" / "000.png"), "link.png", "sub/../../labels.csv"]
    with (root / "labels.csv").open("a") as f:
        f.write("".join(f"{p},X{i}\n" for i, p in enumerate(outside)) + "sub/in.png,CD2\ninner.png,AB1\n")
    ds = load_dataset(str(root))
    assert [it.file for it in ds.items] == ["000.png", "sub/in.png", "inner.png"]
    assert ds.problems == [f"{p}: path leads outside the dataset's images/ folder (refused)" for p in outside]


def test_manifest_root_is_named_and_refused_beside_own_labels(tmp_path: Path):
    """Issue 25.6: data read through ``root`` says where it came from; a folder with its own labels
    and a ``root`` is refused instead of its labels being replaced silently."""
    data = make_dataset(tmp_path / "data", ["AB1"])
    pointer = tmp_path / "pointer"
    pointer.mkdir()
    (pointer / "manifest.json").write_text('{"root": "../data"}')
    ds = load_dataset(str(pointer))
    assert ds.root == data.resolve() and ds.folder == pointer.resolve() and len(ds.items) == 1
    local = make_dataset(tmp_path / "local", ["CD2"])
    (local / "manifest.json").write_text('{"root": "../data"}')
    with pytest.raises(DatasetError, match="field 'root' points at ../data, but the folder has labels.csv of its own"):
        load_dataset(str(local))


def test_csv_quoting_and_extra_columns(tmp_path: Path):
    """Issues 25.9 and 25.10: a quoted field keeps its commas and line breaks (a code on two lines);
    a row with more fields than the header is listed, not read with its extra fields dropped."""
    root = make_dataset(tmp_path / "d", ["AB1"])
    with (root / "labels.csv").open("a") as f:
        f.write('001.png,"SN 7X4Q\nLOT 99"\n002.png,"A,B"\n003.png,AB,CD\n004.png,"open\n')
    ds = load_dataset(str(root))
    assert {it.file: it.text for it in ds.items} == {"000.png": "AB1", "001.png": "SN 7X4Q\nLOT 99", "002.png": "A,B"}
    assert ds.problems[0] == "labels.csv line 6: expected 2 fields 'file,text', got 3: '003.png,AB,CD'"
    assert ds.problems[1].startswith("labels.csv line 7: malformed CSV record")


def test_training_readers_refuse_a_bomb_from_its_header(tmp_path: Path):
    """Issue 25.1, training side: ocr2stage's image readers open through ``open_image`` too."""
    from ocr2stage.classification.train import load_user_crops
    from ocr2stage.classification.trainsets import _gray

    bomb(tmp_path / "bomb.png")
    (tmp_path / "labels.csv").write_text("file,label\nbomb.png,A\n")
    with pytest.raises(ImageError, match="image too large: bomb.png"):
        _gray(tmp_path / "bomb.png")
    with pytest.raises(ImageError, match="image too large: bomb.png"):
        load_user_crops(tmp_path)
