"""The report's judgements on results built in memory: who wins, by how much, is it real."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report import build_context, render
from bench.report.fmt import pvalue
from bench.report.gallery import boxes_path, char_boxes, worst_files
from bench.report.load import Run
from bench.report.sections import findings
from bench.report.stats import engine_stats

LABELS = {"a": "PaddleOCR 3.7.0 PP-OCRv5_mobile_rec", "b": "Tesseract 5.5.4 LSTM"}


def make_run(tmp_path: Path, right: dict[str, int], n: int = 100, ms: dict[str, float] | None = None) -> Run:
    """``right[engine]`` of ``n`` images read exactly; every other reading drops the last character."""
    rows = []
    for engine, k in right.items():
        for i in range(n):
            truth = f"SN{i:05d}"
            pred = truth if i < k else truth[:-1]
            rows.append({"engine": engine, "file": f"{i}.png", "truth": truth, "prediction": pred,
                         "correct": pred == truth, "cer": 0.0 if pred == truth else 1 / len(truth),
                         "edits": int(pred != truth), "latency_ms": (ms or {}).get(engine, 10.0), "error": None,
                         "failure": "correct" if pred == truth else "missing_chars",
                         "meta.style": "etched" if i % 2 else "printed"})
    records = {e: {"engine": e, "info": {"label": LABELS[e]}, "load_s": 1.0, "error": None} for e in right}
    return Run(tmp_path, {"engines": list(right)}, {}, records, pd.DataFrame(rows))


def test_a_clear_winner_is_named_with_its_gap_and_significance(tmp_path: Path) -> None:
    run = make_run(tmp_path, {"a": 98, "b": 71}, ms={"a": 40.0, "b": 10.0})
    lines = findings([engine_stats(run, e) for e in run.engines], run)
    first = lines[0]
    assert first.startswith(f"{LABELS['a']} reads 98.0% [")
    assert f"{LABELS['b']} 71.0% [" in first
    assert first.endswith("the gap of 27.0 points is significant (McNemar p<0.001, 100 paired images).")
    # CER: 29 vs 2 one-character misses over 100 seven-character codes -> +27/700 = +3.86 points
    assert any(f"{LABELS['b']} 4.14%, +3.86 points (paired 95% CI" in line and line.endswith("a real difference).")
               for line in lines)
    assert any(line.startswith(f"Fastest: {LABELS['b']}, median 10 ms") for line in lines)
    assert any("the most accurate, needs 4.0x the median time" in line for line in lines)


def test_a_small_gap_is_not_called_real(tmp_path: Path) -> None:
    run = make_run(tmp_path, {"a": 50, "b": 48}, n=60)
    lines = findings([engine_stats(run, e) for e in run.engines], run)
    assert "gap of 3.3 points is not significant" in lines[0]
    assert lines[1].endswith("not a clear difference).")


def test_labels_are_rendered_verbatim(tmp_path: Path) -> None:
    run = make_run(tmp_path, {"a": 18, "b": 16}, n=20)
    html = render(build_context(run))
    assert html.count(LABELS["a"]) >= 3 and "PP-OCRv6" not in html
    assert "image not available: dataset not found on this machine" in html


def test_pvalue_wording() -> None:
    assert [pvalue(p) for p in (0.0004, 0.0042, 0.049, 1.0)] == ["p<0.001", "p=0.004", "p=0.05", "p=1.00"]


def test_gallery_ranks_images_most_engines_wrong_first(tmp_path: Path) -> None:
    run = make_run(tmp_path, {"a": 95, "b": 90})
    worst = worst_files(run.results, ["a", "b"], cap=7)
    assert worst[:5] == ["95.png", "96.png", "97.png", "98.png", "99.png"]  # both engines wrong
    assert set(worst[5:]) <= {f"{i}.png" for i in range(90, 95)}  # only b wrong
    assert worst_files(run.results, ["a", "b"], cap=3) == worst[:3]


def test_character_boxes_become_one_svg_path() -> None:
    reading = {"lines": [{"text": "AB", "chars": [{"text": "A", "box": [1, 2, 11, 22]},
                                                  {"text": "B", "box": [12.4, 2, 20.6, 22]}]},
                         {"text": "?", "chars": None}]}
    assert boxes_path(char_boxes(reading)) == "M1 2h10v20h-10zM12 2h8v20h-8z"
