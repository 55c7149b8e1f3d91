"""The synthetic code generator: determinism, labels that match the pixels, the data set format,
and the shipped ``serials`` test set."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import string
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bench.datasets import fingerprint, load_dataset, load_image, write_fingerprint
from ocr2stage.synth import (
    CHARSET,
    RECIPE,
    STYLES,
    TEST_SEEDS,
    MissingFontError,
    Sample,
    fonts,
    generate_dataset,
    render_sample,
    sample_seed,
)
from ocr2stage.synth.codes import registration
from ocr2stage.synth.dataset import save_png
from ocr2stage.synth.degrade import MAX_HEIGHT, MIN_HEIGHT, geometry
from ocr2stage.synth.fonts import FONTS, font_path, undrawn_chars
from ocr2stage.synth.glyphs import font_layout
from ocr2stage.synth.styles import NAMEPLATE_FONTS, Flat

SHIPPED = Path(__file__).resolve().parents[1] / "datasets" / "serials"
SERIALS_RECIPE = SHIPPED.parent / "recipes" / "serials.json"


def png(sample: Sample) -> bytes:
    buffer = io.BytesIO()
    sample.image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def samples() -> dict[str, list[Sample]]:
    return {style: [render_sample(sample_seed(11, i), style) for i in range(5)] for style in STYLES}


def test_same_seed_gives_identical_bytes_and_labels() -> None:
    for style in STYLES:
        a, b = render_sample(sample_seed(3, 0), style), render_sample(sample_seed(3, 0), style)
        assert png(a) == png(b)
        assert (a.text, a.chars, a.meta) == (b.text, b.chars, b.meta)
    assert render_sample(42).text == render_sample(42).text
    assert png(render_sample(sample_seed(3, 0), "ocr_font")) != png(render_sample(sample_seed(3, 1), "ocr_font"))


def test_every_style_renders_an_roi_sized_rgb_image(samples: dict[str, list[Sample]]) -> None:
    for style, rendered in samples.items():
        for s in rendered:
            assert s.image.mode == "RGB"
            assert MIN_HEIGHT <= s.image.height <= MAX_HEIGHT
            assert s.meta["style"] == style and isinstance(s.meta["kind"], str)
            assert set(s.text) <= set(CHARSET + "\n") and s.text.strip() == s.text
            assert all(isinstance(v, str | int | float) for v in s.meta.values())
    with pytest.raises(ValueError, match="unknown style"):
        render_sample(0, "neon")


def test_one_box_per_character_inside_the_image_in_reading_order(samples: dict[str, list[Sample]]) -> None:
    for s in (s for rendered in samples.values() for s in rendered):
        assert [c for c, _ in s.chars] == [c for c in s.text if not c.isspace()]
        for _, (x0, y0, x1, y1) in s.chars:
            assert 0 <= x0 < x1 <= s.image.width and 0 <= y0 < y1 <= s.image.height
        boxes = iter(s.chars)
        line_centres = []
        for line in s.text.split("\n"):
            row = [next(boxes)[1] for c in line if not c.isspace()]
            xs = [(b[0] + b[2]) / 2 for b in row]
            assert xs == sorted(xs), s.text
            line_centres.append(np.mean([(b[1] + b[3]) / 2 for b in row]))
        assert line_centres == sorted(line_centres)


def test_segment_displays_use_seven_segments_only_for_digit_codes() -> None:
    for i in range(12):
        s = render_sample(sample_seed(5, i), "segment_display")
        if s.meta["segments"] == 7:
            assert set(s.text) <= set("0123456789-.: \n"), s.text


def test_nameplate_code_is_the_one_large_line_among_fine_print(samples: dict[str, list[Sample]]) -> None:
    for s in samples["nameplate"]:
        lines = s.text.split("\n")
        assert 2 <= len(lines) <= 4, s.text
        boxes = iter(s.chars)
        heights = [
            np.median([b[3] - b[1] for b in (next(boxes)[1] for c in line if not c.isspace())]) for line in lines
        ]
        big = int(np.argmax(heights))
        assert all(h < 0.5 * heights[big] for k, h in enumerate(heights) if k != big), (s.text, heights)


def test_registrations_alternate_runs_of_uniform_letters_and_digits() -> None:
    rng = np.random.default_rng(0)
    codes = [registration(rng) for _ in range(2000)]
    for code in codes:
        runs = re.findall(r"[A-Z]+|[0-9]+", code)
        assert 2 <= len(runs) <= 3 and len("".join(runs)) >= 3, code
        assert all(a.isdigit() != b.isdigit() for a, b in zip(runs, runs[1:])), code
        assert set(re.sub(r"[A-Z0-9]", "", code)) <= {" ", "-"}, code
    letters = Counter(c for code in codes for c in code if c.isalpha())
    assert set(letters) == set(string.ascii_uppercase)
    assert max(letters.values()) < 1.6 * min(letters.values()), letters  # uniform, unlike the other kinds
    kinds = Counter(render_sample(sample_seed(5, i), "nameplate").meta["kind"] for i in range(20))
    assert 0 < kinds["registration"] < 20, kinds


def test_boxes_follow_the_ink_through_warp_crop_and_scale() -> None:
    """Each character alone on the canvas, warped exactly as the full code: its box must contain
    its warped ink (to the pixel: anti-aliasing and bilinear sampling blur the edge) and be no
    looser than the slant and tilt make the bound of a warped rectangle."""
    lay = font_layout(["SN 7X4Q-9B/2"], "liberation_mono_bold", 60, tracking=8, line_gap=0.5, margin=120)
    full = Flat(np.repeat(lay.mask[..., None], 3, axis=2), "SN 7X4Q-9B/2", lay.chars, 60, shear_deg=8.0)
    _, expected = geometry(np.random.default_rng(1), full, {})
    for i, (_, (x0, y0, x1, y1)) in enumerate(lay.chars):
        alone = np.zeros_like(lay.mask)
        alone[int(y0) : int(y1), int(x0) : int(x1)] = lay.mask[int(y0) : int(y1), int(x0) : int(x1)]
        flat = Flat(np.repeat(alone[..., None], 3, axis=2), full.text, lay.chars, 60, shear_deg=8.0)
        image, _ = geometry(np.random.default_rng(1), flat, {})
        ys, xs = np.nonzero(image[..., 0] > 0.25)
        ink = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        box = np.array(expected[i][1])
        inside = np.concatenate([ink[:2] - box[:2], box[2:] - ink[2:]])
        assert inside.min() > -1.2 and inside.max() < 0.16 * 60, (expected[i], ink)


def test_missing_font_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FONTS, "absent", ("truetype/absent/NoSuchFont.ttf", "fonts-absent"))
    with pytest.raises(MissingFontError, match="apt-get install fonts-absent"):
        font_path("absent")


@pytest.mark.parametrize("key", NAMEPLATE_FONTS)
def test_nameplate_faces_draw_every_character_of_the_charset(key: str) -> None:
    """A face without a glyph draws its .notdef box (or nothing) and the label would lie."""
    assert undrawn_chars(key, CHARSET) == ""


def test_the_check_catches_a_face_that_lacks_glyphs() -> None:
    # DSEG7 draws digits and letters on seven segments, but has no slash
    assert undrawn_chars("dseg7_classic", CHARSET) == "/"
    assert undrawn_chars("dejavu_sans", CHARSET + "\ue000") == "\ue000"


def test_nameplates_draw_from_over_a_hundred_pinned_faces() -> None:
    assert len(set(NAMEPLATE_FONTS)) == len(NAMEPLATE_FONTS) >= 100
    assert set(NAMEPLATE_FONTS) <= set(FONTS)
    assert {f"roadgeek_{s}" for s in ("b", "c", "d", "e", "em", "eem", "f")} <= set(NAMEPLATE_FONTS)
    npm_faces = [k for k in NAMEPLATE_FONTS if FONTS[k][1] in fonts.NPM_INTEGRITY]
    assert len(npm_faces) >= 100
    assert {FONTS[k][1] for k in npm_faces} == set(fonts.NPM_INTEGRITY)  # no package installed for nothing
    fonts_seen = {render_sample(sample_seed(17, i), "nameplate").meta["font"] for i in range(40)}
    assert len(fonts_seen & set(NAMEPLATE_FONTS)) >= 25


def _fake_npm_pack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, files: dict[str, bytes]) -> list[list[str]]:
    """npm replaced by a stand-in that packs ``files`` as @fontsource/fake@1.0.0; returns its calls."""
    tarball = tmp_path / "fontsource-fake-1.0.0.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    calls: list[list[str]] = []

    def run(cmd: list[str], **_: object) -> object:
        calls.append(cmd)
        dest = Path(cmd[cmd.index("--pack-destination") + 1])
        (dest / tarball.name).write_bytes(tarball.read_bytes())
        out = [{"name": "@fontsource/fake", "version": "1.0.0", "filename": tarball.name}]
        return type("Done", (), {"stdout": json.dumps(out)})()

    monkeypatch.setattr(fonts.shutil, "which", lambda _: "/usr/bin/npm")
    monkeypatch.setattr(fonts.subprocess, "run", run)
    monkeypatch.setattr(fonts, "FONTS", {"fake_400": ("files/fake-latin-400-normal.woff", "@fontsource/fake@1.0.0")})
    return calls


def test_npm_faces_install_once_and_a_changed_tarball_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = _fake_npm_pack(monkeypatch, tmp_path, {"files/fake-latin-400-normal.woff": b"wOFF", "LICENSE": b"OFL"})
    packed = (tmp_path / "fontsource-fake-1.0.0.tgz").read_bytes()
    sha = "sha512-" + base64.b64encode(hashlib.sha512(packed).digest()).decode()
    cache = tmp_path / "cache"
    monkeypatch.setattr(fonts, "NPM_INTEGRITY", {"@fontsource/fake@1.0.0": "sha512-pinnedbutdifferent"})
    with pytest.raises(RuntimeError, match="differs from the pinned"):
        fonts.install_npm_fonts(cache)
    assert not (cache / "@fontsource+fake@1.0.0").exists()
    monkeypatch.setattr(fonts, "NPM_INTEGRITY", {"@fontsource/fake@1.0.0": sha})
    assert fonts.install_npm_fonts(cache) == ["@fontsource/fake@1.0.0"]
    assert (cache / "@fontsource+fake@1.0.0" / "files" / "fake-latin-400-normal.woff").read_bytes() == b"wOFF"
    calls.clear()
    assert fonts.install_npm_fonts(cache) == [] and calls == []  # a second run does nothing
    monkeypatch.setattr(fonts.shutil, "which", lambda _: None)
    assert fonts.install_npm_fonts(cache) == []  # nor needs npm
    (cache / "@fontsource+fake@1.0.0" / "files" / "fake-latin-400-normal.woff").unlink()
    with pytest.raises(RuntimeError, match="npm is missing"):
        fonts.install_npm_fonts(cache)


def test_missing_npm_face_names_the_package_and_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fonts, "NPM_FONT_CACHE", tmp_path)
    monkeypatch.setitem(fonts.NPM_INTEGRITY, "@fontsource/absent@1.0.0", "sha512-x")
    monkeypatch.setitem(FONTS, "absent_400", ("files/absent-latin-400-normal.woff", "@fontsource/absent@1.0.0"))
    font_path.cache_clear()
    with pytest.raises(MissingFontError, match=r"@fontsource/absent@1\.0\.0: bash scripts/setup\.sh"):
        font_path("absent_400")
    font_path.cache_clear()


def test_generate_dataset_writes_the_documented_format(tmp_path: Path) -> None:
    from ocr2stage.synth.dataset import manifest as synth_manifest

    steps: list[int] = []
    out = generate_dataset(tmp_path / "mini", n=8, seed=7, progress=steps.append)
    assert steps == [1] * 8
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["charset"] == CHARSET and manifest["readout"] == "all_lines"
    assert manifest["normalize"] == {"uppercase": True, "remove_whitespace": True}
    assert manifest["generator"] == {"recipe": RECIPE, "seed": 7, "styles": list(STYLES), "n": 8}
    assert "evaluation_only" not in manifest  # a dev set may be trained on; a test seed's set may not:
    assert synth_manifest("t", 1, TEST_SEEDS["serials"], STYLES)["evaluation_only"] is True
    assert (out / "contact_sheet.png").is_file()
    dataset = load_dataset(str(out))
    assert not dataset.problems and len(dataset.items) == 8
    assert [it.meta["style"] for it in dataset.items[: len(STYLES)]] == list(STYLES)
    for i, item in enumerate(dataset.items):
        sample = render_sample(sample_seed(7, i), STYLES[i % len(STYLES)])
        assert np.array_equal(load_image(out / "images" / item.file), np.asarray(sample.image))
        assert item.text == sample.text
        assert [(c["char"], tuple(c["box"])) for c in item.chars] == [
            (c, tuple(round(v, 2) for v in box)) for c, box in sample.chars
        ]
    first = write_fingerprint(out)
    generate_dataset(out, n=3, seed=7)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert fingerprint(out) != first


def test_test_seeds_share_no_image_with_other_seeds() -> None:
    test = {tuple(sample_seed(TEST_SEEDS["serials"], i).generate_state(4)) for i in range(200)}
    for other in (0, 1, 7, TEST_SEEDS["serials"] + 1, TEST_SEEDS["serials"] - 1):
        assert not test & {tuple(sample_seed(other, i).generate_state(4)) for i in range(200)}


def test_shipped_set_matches_its_manifest_and_its_recipe() -> None:
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    assert fingerprint(SHIPPED) == manifest["fingerprint"]
    recipe = json.loads(SERIALS_RECIPE.read_text())
    assert manifest["generator"] == {k: recipe[k] for k in ("recipe", "seed", "styles", "n")}
    assert recipe["seed"] == TEST_SEEDS["serials"]
    rows = [json.loads(line) for line in (SHIPPED / "labels.jsonl").read_text().splitlines()]
    assert Counter(r["meta"]["style"] for r in rows) == {
        s: recipe["n"] // len(recipe["styles"]) for s in recipe["styles"]
    }


def test_shipped_images_are_reproduced_by_the_generator(tmp_path: Path) -> None:
    """If this fails, rendering changed: bump RECIPE and regenerate the shipped set."""
    recipe = json.loads(SERIALS_RECIPE.read_text())
    for i, style in enumerate(recipe["styles"]):
        save_png(render_sample(sample_seed(recipe["seed"], i), style), tmp_path / "x.png")
        assert (tmp_path / "x.png").read_bytes() == (SHIPPED / "images" / f"{i:06d}.png").read_bytes()
