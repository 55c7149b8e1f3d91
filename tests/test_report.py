"""The HTML report on a real run (`bench run` with Tesseract), on broken and partial runs, and at scale.

The run has what a reader must see handled: slices, an image the engine could not read (missing
file), an engine that failed to load, and misreads for the gallery.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import render
from markupsafe import escape
from report_browser import Browser, chromium_path
from typer.testing import CliRunner

from bench.cli import app
from bench.datasets import LABEL_FILES, load_dataset
from bench.report import write_report
from bench.report.gallery import CAP

BROKEN = "engine_doubles:BrokenLoad"
CODES = [
    ("SN7X4Q99", "plain"),
    ("LOT2024A", "plain"),
    ("AB12CD", "plain"),
    ("PN4471", "small"),
    ("X9Y8Z7", "small"),
    ("QA5S0G6", "small"),
]


def make_sliced_dataset(root: Path) -> Path:
    """Real rendered codes; the "small" slice is rendered tiny so Tesseract misreads some of it."""
    (root / "images").mkdir(parents=True)
    rows = []
    for i, (code, style) in enumerate(CODES):
        img = render(code)
        if style == "small":
            img = img.resize((60, 13)).resize((150, 32))
        img.save(root / "images" / f"{i:03d}.png")
        rows.append({"file": f"{i:03d}.png", "text": code, "meta": {"style": style, "blur": 0.5}})
    rows.append({"file": "gone.png", "text": "GONE01", "meta": {"style": "plain", "blur": 0.0}})
    (root / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def bench_run(dataset: Path, out: Path, *extra: str) -> Path:
    result = CliRunner().invoke(app, ["run", "--dataset", str(dataset), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sliced_dataset(tmp_path_factory.mktemp("sliced"))


@pytest.fixture(scope="module")
def real_run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `bench run` (which writes report.html itself) of Tesseract plus an engine that fails to load."""
    return bench_run(dataset, tmp_path_factory.mktemp("runs") / "real", "--engines", f"tesseract,{BROKEN}")


def html_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_bench_run_writes_a_self_contained_report(real_run: Path) -> None:
    html = html_of(real_run / "report.html")
    srcs = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert srcs and all(s.startswith("data:image/") for s in srcs), "every asset must be embedded"
    assert "<link" not in html and "@import" not in html and "http://" not in html and "https://" not in html
    assert len(html) < 1_000_000


def test_report_shows_the_run_as_stored(real_run: Path) -> None:
    html = html_of(real_run / "report.html")
    info = json.loads((real_run / "engines" / "tesseract.json").read_text())["info"]
    run = json.loads((real_run / "run.json").read_text())
    assert info["label"] in html, "the engine label is shown verbatim"
    assert run["dataset"]["fingerprint"] in html and str(escape(run["command"])) in html  # as the template escapes it
    assert "weights exploded" in html, "the engine that failed to load says why"
    assert "image not found" in html or "gone.png" in html
    assert "by style" in html and "small" in html
    for section in ("decision", "engines", "tradeoff", "slices", "chars", "failures", "latency", "gallery", "repro"):
        assert f'id="{section}"' in html


def test_report_reads_stored_results_only(real_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.engines

    def no_engines(name: str) -> None:
        raise AssertionError(f"the report tried to load engine {name}")

    monkeypatch.setattr(bench.engines, "engine_class", no_engines)
    first = html_of(real_run / "report.html")
    again = html_of(write_report(real_run))
    strip = lambda h: re.sub(r"generated [^<]* from", "", h)  # noqa: E731
    assert strip(first) == strip(again), "the same run renders the same report"


def test_comparison_with_itself_finds_no_difference(real_run: Path) -> None:
    html = html_of(write_report(real_run, compare_to=real_run))
    assert 'id="compare"' in html
    assert "unchanged on 7 common images; not significant (McNemar p=1.00)" in html
    assert (real_run / "report.html").exists(), "the plain report is not overwritten by a comparison"


def test_comparison_flags_a_significant_change(real_run: Path, tmp_path: Path) -> None:
    """Same images, every one right in the baseline and wrong here: the drop must be significant."""
    table = pd.read_parquet(real_run / "results.parquet")
    table = pd.concat([table.assign(file=f"r{k}_" + table["file"]) for k in range(4)], ignore_index=True)
    runs = {}
    for name, correct in (("ours", False), ("baseline", True)):
        runs[name] = tmp_path / name
        shutil.copytree(real_run, runs[name])
        table.assign(correct=correct).to_parquet(runs[name] / "results.parquet", index=False)
    html = html_of(write_report(runs["ours"], compare_to=runs["baseline"]))
    assert f"worse by 100.0 points on {len(table):,} common images; significant" in html


def test_run_without_results_still_renders(real_run: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(real_run, partial)
    for name in ("results.parquet", "results.csv", "summary.json", "report.html"):
        (partial / name).unlink()
    html = html_of(write_report(partial))
    assert "This run is incomplete" in html and "summarize-run" in html
    assert "No engine produced results" in html


def test_one_image_run_and_moved_dataset(dataset: Path, tmp_path: Path) -> None:
    moved = tmp_path / "ds"
    shutil.copytree(dataset, moved)
    run_dir = bench_run(moved, tmp_path / "one", "--engines", "tesseract", "--limit", "1", "--no-report")
    shutil.rmtree(moved)
    html = html_of(write_report(run_dir))
    assert "Only tesseract produced results" in html and "of 1 code exactly" in html  # short name (issue 24)
    read_right = bool(pd.read_parquet(run_dir / "results.parquet")["correct"].iloc[0])
    if read_right:  # nothing for the gallery to show
        assert "No image was misread" in html
    else:  # the misread is listed, its image gone with the dataset
        assert "image not available: dataset not found on this machine" in html


def replicate(run_dir: Path, out: Path, rows: int) -> Path:
    """A large run built from a real one: results and predictions repeated under new file names.

    The images are hard-linked under the new names so the gallery has real thumbnails to embed
    (a symlink would lead out of the dataset's images/, which the report refuses to read).
    """
    shutil.copytree(run_dir, out)
    table = pd.read_parquet(run_dir / "results.parquet")
    copies = -(-rows // len(table))
    names = [f"r{k}_" for k in range(copies)]
    pd.concat([table.assign(file=n + table["file"]) for n in names], ignore_index=True).to_parquet(
        out / "results.parquet", index=False
    )
    for pred in (run_dir / "predictions").glob("*.jsonl"):
        recs = [json.loads(x) for x in pred.read_text().splitlines()]
        lines = (json.dumps({**r, "file": n + r["file"]}) for n in names for r in recs)
        (out / "predictions" / pred.name).write_text("".join(x + "\n" for x in lines))
    run = json.loads((run_dir / "run.json").read_text())
    src = load_dataset(run["dataset"]["path"]).root
    ds = out / "dataset"
    (ds / "images").mkdir(parents=True)
    for labels in LABEL_FILES:
        if (src / labels).exists():
            shutil.copy(src / labels, ds / labels)
    for n in names:
        for img in (src / "images").iterdir():
            os.link(img, ds / "images" / (n + img.name))
    run["dataset"]["path"] = str(ds)
    (out / "run.json").write_text(json.dumps(run))
    return out


@pytest.fixture(scope="module")
def big_report(real_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    big = replicate(real_run, tmp_path_factory.mktemp("big") / "run", 10_000)
    start = time.perf_counter()
    path = write_report(big)
    return path, time.perf_counter() - start


def test_ten_thousand_rows_render_fast_and_small(big_report: tuple[Path, float]) -> None:
    path, seconds = big_report
    size = path.stat().st_size
    print(f"10k-row report: {size / 1e6:.2f} MB in {seconds:.1f} s")
    assert html_of(path).count('class="card"') == CAP
    assert size < 3_000_000
    assert seconds < 60


needs_chromium = pytest.mark.skipif(chromium_path() is None, reason="chromium not installed")


@needs_chromium
@pytest.mark.parametrize("which", ["real", "big"])
def test_report_in_a_real_browser(which: str, real_run: Path, big_report: tuple[Path, float], tmp_path: Path) -> None:
    """Loaded from disk in headless Chromium: no console error, every image decoded, filters work."""
    path = real_run / "report.html" if which == "real" else big_report[0]
    with Browser() as browser:
        seconds = browser.open(path)
        assert browser.errors == []
        images = browser.eval("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert images and all(images), "every chart and thumbnail is rendered"
        cards = browser.eval("document.querySelectorAll('.card').length")
        browser.eval(
            "var s = document.getElementById('f-engine'); s.value = 'tesseract';s.dispatchEvent(new Event('change'))"
        )
        shown = browser.eval("document.querySelectorAll('.card:not(.hidden)').length")
        assert 0 < shown <= cards
        assert browser.eval("document.getElementById('f-count').textContent") == f"showing {shown} of {cards}"
        browser.eval(
            "document.querySelector('.f-slice').value = 'small';"
            "document.querySelector('.f-slice').dispatchEvent(new Event('change'))"
        )
        assert browser.eval(
            "Array.from(document.querySelectorAll('.card:not(.hidden)'))"
            ".every(c => c.getAttribute('data-s-1') === 'small')"
        )
        shot = browser.screenshot(tmp_path / "report.png", 0, 3000)
        assert browser.errors == []
    assert shot.stat().st_size > 50_000
    assert seconds < 20


def test_thumbnails_of_a_bomb_or_a_file_outside_images_are_not_read(tmp_path: Path) -> None:
    """Issues 25.1 and 25.5: the thumbnail step crashed on a decompression bomb (no report.html),
    and embedded images from outside the dataset; both are now a note on the card."""
    from test_datasets import bomb

    from bench.report.gallery import thumbnail

    images = tmp_path / "d" / "images"
    images.mkdir(parents=True)
    bomb(images / "bomb.png")
    render("AB12").save(tmp_path / "outside.png")
    assert "image too large: bomb.png" in thumbnail(images, "bomb.png").missing
    assert "outside the dataset's images/" in thumbnail(images, "../../outside.png").missing
    (images / "link.png").symlink_to(tmp_path / "outside.png")
    assert "outside the dataset's images/" in thumbnail(images, "link.png").missing
