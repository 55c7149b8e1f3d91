"""The report's judgements on results built in memory: who wins, by how much, is it real."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.report import build_context, render
from bench.report.fmt import pvalue
from bench.report.gallery import boxes_path, char_boxes, worst_files
from bench.report.load import Run
from bench.report.sections import findings, machine, reproducibility
from bench.report.stats import engine_stats

LABELS = {"a": "PaddleOCR 3.7.0 PP-OCRv5_mobile_rec", "b": "Tesseract 5.5.4 LSTM"}


def make_run(tmp_path: Path, right: dict[str, int], n: int = 100, ms: dict[str, float] | None = None) -> Run:
    """``right[engine]`` of ``n`` images read exactly; every other reading drops the last character."""
    rows = []
    for engine, k in right.items():
        for i in range(n):
            truth = f"SN{i:05d}"
            pred = truth if i < k else truth[:-1]
            rows.append(
                {
                    "engine": engine,
                    "file": f"{i}.png",
                    "truth": truth,
                    "prediction": pred,
                    "correct": pred == truth,
                    "cer": 0.0 if pred == truth else 1 / len(truth),
                    "edits": int(pred != truth),
                    "latency_ms": (ms or {}).get(engine, 10.0),
                    "error": None,
                    "failure": "correct" if pred == truth else "missing_chars",
                    "meta.style": "etched" if i % 2 else "printed",
                }
            )
    records = {e: {"engine": e, "info": {"label": LABELS[e]}, "load_s": 1.0, "error": None} for e in right}
    return Run(tmp_path, {"engines": list(right)}, {}, records, pd.DataFrame(rows))


def test_a_clear_winner_is_named_with_its_gap_and_significance(tmp_path: Path) -> None:
    run = make_run(tmp_path, {"a": 98, "b": 71}, ms={"a": 40.0, "b": 10.0})
    lines = findings([engine_stats(run, e) for e in run.engines], run)
    first = lines[0]
    assert first.startswith("a against b: 98.0% [") and "of codes read exactly against 71.0% [" in first
    assert "the gap of 27.0 points is significant (McNemar p<0.001, 100 paired images)" in first
    # CER: 29 vs 2 one-character misses over 100 seven-character codes -> +27/700 = +3.86 points
    assert "CER 0.29% against 4.14%, b's 3.86 points higher (paired 95% CI" in first
    assert first.endswith("a real difference).")
    assert lines[1] == "Fastest: b, median 10 ms per image (p95 10 ms); a (the most accurate) 4.0x that."
    assert len(lines) == 2, "one bullet per comparison: accuracy with CER, then speed"


def test_the_summary_names_engines_short(tmp_path: Path) -> None:
    run = make_run(tmp_path, {"a": 98, "b": 71})
    lines = findings([engine_stats(run, e) for e in run.engines], run)
    assert not any(label in line for line in lines for label in LABELS.values())


def test_a_small_gap_is_not_called_real(tmp_path: Path) -> None:
    run = make_run(tmp_path, {"a": 50, "b": 48}, n=60)
    lines = findings([engine_stats(run, e) for e in run.engines], run)
    assert "gap of 3.3 points is not significant" in lines[0]
    assert lines[0].endswith("not a clear difference).")


def _trained(tmp_path: Path, run: Run, engine: str, **record: object) -> None:
    """Give ``engine`` weights whose sidecar records ``record``, passed as an engine option."""
    weights = tmp_path / f"{engine}.pt"
    (tmp_path / f"{engine}.json").write_text(json.dumps({"file": weights.name, "sha256": "sha256:feed", **record}))
    run.engine_records[engine]["info"]["weights"] = {weights.name: "sha256:feed"}
    run.run.setdefault("options", {}).setdefault("engine_options", {})[engine] = {"classifier": str(weights)}


def test_home_advantage_is_stated(tmp_path: Path) -> None:
    """An engine trained on the generator of the scored set gets a bullet that says so, and which seeds."""
    run = make_run(tmp_path, {"a": 98, "b": 71})
    run.run["manifest"] = {"generator": {"recipe": "ocr2stage.synth/1", "seed": 20261125, "n": 100}}
    _trained(tmp_path, run, "a", n_images=2800, seed=1)
    home = [line for line in findings([engine_stats(run, e) for e in run.engines], run) if "Home advantage" in line]
    assert home == [
        "Home advantage: a was trained on 2,800 images from ocr2stage.synth, the generator that rendered "
        "this set (ocr2stage.synth/1; training seed 1, this set's seed is 20261125, so no image is shared); "
        "no other engine here records training on it. Its accuracy here may overstate what it reads on "
        "codes from elsewhere."
    ]


def test_no_home_advantage_on_other_sets_or_unknown_weights(tmp_path: Path) -> None:
    run = make_run(tmp_path, {"a": 98, "b": 71})
    _trained(tmp_path, run, "a", n_images=2800, seed=1)
    stats = [engine_stats(run, e) for e in run.engines]
    assert not any("Home advantage" in line for line in findings(stats, run)), "a set not generated: no bullet"
    run.run["manifest"] = {"generator": {"recipe": "ocr2stage.synth/1", "seed": 7}}
    run.engine_records["a"]["info"]["weights"] = {"a.pt": "sha256:other"}
    assert not any("Home advantage" in line for line in findings(stats, run)), "a sidecar of other weights"
    _trained(tmp_path, run, "a", n_images=0, seed=1, init=str(tmp_path / "base.pt"))
    (tmp_path / "base.json").write_text(json.dumps({"n_images": 500, "seed": 7}))
    home = [line for line in findings(stats, run) if "Home advantage" in line]
    assert len(home) == 1 and "500 images" in home[0] and "it may have seen these very images" in home[0], (
        "fine-tuned from weights trained on the same seed"
    )


def test_machine_line_shows_instruction_sets_and_threads_when_recorded(tmp_path: Path) -> None:
    run = make_run(tmp_path, {"a": 1})
    run.run["machine"] = {"platform": "Linux-6", "python": "3.11.7", "cpu": "Xeon", "cores": 2, "gpu": None}
    assert machine(run) == "Xeon, 2 cores; no GPU; Linux-6; Python 3.11.7"
    run.run["machine"].update(
        isa={"avx2": True, "avx512": True, "bf16": False, "vnni": True, "amx": False},
        threads={"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": None, "torch": 2, "torch_interop": 2},
    )
    assert machine(run) == (
        "Xeon, 2 cores; threads: OMP_NUM_THREADS=2, torch 2, interop 2; CPU features: avx2, avx512, "
        "vnni (no bf16, amx); no GPU; Linux-6; Python 3.11.7"
    )
    run.run["machine"].update(isa=None, threads={"torch": 1, "per_worker": 1})
    assert machine(run) == "Xeon, 2 cores; threads: torch 1, 1 per worker; no GPU; Linux-6; Python 3.11.7"
    assert ("machine", machine(run)) in reproducibility(run)


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
    reading = {
        "lines": [
            {"text": "AB", "chars": [{"text": "A", "box": [1, 2, 11, 22]}, {"text": "B", "box": [12.4, 2, 20.6, 22]}]},
            {"text": "?", "chars": None},
        ]
    }
    assert boxes_path(char_boxes(reading)) == "M1 2h10v20h-10zM12 2h8v20h-8z"
