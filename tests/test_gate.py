"""The regression gate against real Tesseract runs; regressions are planted in copies of a run folder.

One real run per module (a few seconds); every other run folder is a copy whose predictions were
rewritten and whose results and summary were rebuilt with ``bench.results.summarize``, exactly as
a real run with a worse model would leave them.
"""

from __future__ import annotations

import json
import random
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import render
from typer.testing import CliRunner

from bench.baseline import BaselineError, load_baseline
from bench.cli import app
from bench.datasets import load_dataset
from bench.gate import run_gate, save_baseline
from bench.results import summarize
from bench.runner import RunOptions, run

N_IMAGES = 40
NO_LATENCY = 'latency_reference = ""\n'


def _codes(n: int) -> list[str]:
    rng = random.Random(6)
    lengths = [rng.randint(5, 7) if i % 2 else rng.randint(9, 10) for i in range(n)]
    return ["".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ23456789") for _ in range(k)) for k in lengths]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished Tesseract run over 40 rendered codes."""
    root = tmp_path_factory.mktemp("gate-data")
    (root / "images").mkdir()
    rows = []
    for i, code in enumerate(_codes(N_IMAGES)):
        render(code).save(root / "images" / f"{i:03d}.png")
        rows.append(json.dumps({"file": f"{i:03d}.png", "text": code}))
    (root / "labels.jsonl").write_text("\n".join(rows) + "\n")
    run_dir = run(load_dataset(str(root)), RunOptions(engines=("tesseract",)), tmp_path_factory.mktemp("gate") / "run")
    summarize(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def baseline(real_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_baseline(real_run, tmp_path_factory.mktemp("baselines") / "tesseract.json")


@pytest.fixture
def no_latency(tmp_path: Path) -> Path:
    path = tmp_path / "gate.toml"
    path.write_text(NO_LATENCY)
    return path


def _records(run_dir: Path, engine: str = "tesseract") -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (run_dir / "predictions" / f"{engine}.jsonl").read_text().splitlines()]


def _write_records(run_dir: Path, engine: str, records: list[dict[str, Any]]) -> None:
    (run_dir / "predictions" / f"{engine}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def planted(real_run: Path, dest: Path, edit: Callable[[list[dict[str, Any]]], None]) -> Path:
    """A copy of the run whose Tesseract records went through ``edit``, re-summarised."""
    shutil.copytree(real_run, dest)
    records = _records(dest)
    edit(records)
    _write_records(dest, "tesseract", records)
    summarize(dest)
    return dest


def _misread(
    n: int, reading: Callable[[str], str] = lambda truth: "", which: Callable[[str], bool] = lambda truth: True
) -> Callable[[list[dict[str, Any]]], None]:
    """Make the first ``n`` correctly read images whose truth passes ``which`` read as
    ``reading(truth)`` (default: nothing)."""

    def edit(records: list[dict[str, Any]]) -> None:
        chosen = [r for r in records if r["prediction"] == r["truth"] and which(r["truth"])][:n]
        assert len(chosen) == n, "the real run has too few correct images to plant this"
        for r in chosen:
            r["prediction"] = reading(r["truth"])

    return edit


def _junit_cases(path: Path) -> dict[str, str]:
    """``{"engine: check": outcome}`` from a JUnit file, with outcome one of pass/failure/error/skipped."""
    cases = ET.parse(path).getroot().iter("testcase")
    out = {}
    for c in cases:
        kind = next((e.tag for e in c if e.tag in ("failure", "error", "skipped")), "pass")
        out[f"{c.get('classname').removeprefix('bench.gate.')}: {c.get('name')}"] = kind
    return out


def test_same_run_passes_with_junit_and_markdown(real_run: Path, baseline: Path, no_latency: Path, tmp_path: Path):
    code = run_gate(real_run, baseline, no_latency, junit=tmp_path / "gate.xml", markdown=tmp_path / "gate.md")
    assert code == 0
    cases = _junit_cases(tmp_path / "gate.xml")
    assert cases["run: dataset"] == cases["tesseract: accuracy"] == cases["tesseract: cer"] == "pass"
    assert "failure" not in cases.values() and "error" not in cases.values()
    md = (tmp_path / "gate.md").read_text()
    assert md.startswith("## ✅ OCR regression gate: pass (exit 0)") and "| tesseract: accuracy | PASS |" in md


def test_baseline_keeps_per_image_outcomes_and_summary(real_run: Path, baseline: Path):
    data = load_baseline(baseline)
    summary = json.loads((real_run / "summary.json").read_text())
    engine = data["engines"]["tesseract"]
    assert len(engine["outcomes"]) == len(data["dataset"]["images"]) == N_IMAGES
    assert (
        sum(o[0] for o in engine["outcomes"].values()) / N_IMAGES
        == summary["engines"]["tesseract"]["metrics"]["sequence_accuracy"]
    )
    assert engine["metrics"] == summary["engines"]["tesseract"]["metrics"]
    assert engine["info"]["weights"] and data["dataset"]["fingerprint"] == summary["run"]["dataset"]["fingerprint"]


def test_planted_regression_fails(real_run: Path, baseline: Path, no_latency: Path, tmp_path: Path):
    worse = planted(real_run, tmp_path / "worse", _misread(10))
    assert run_gate(worse, baseline, no_latency, junit=tmp_path / "gate.xml", markdown=tmp_path / "gate.md") == 1
    assert _junit_cases(tmp_path / "gate.xml")["tesseract: accuracy"] == "failure"
    md = (tmp_path / "gate.md").read_text()
    assert md.startswith("## ❌ OCR regression gate: regression (exit 1)")
    assert "10 lost, 0 gained" in md


def test_one_flipped_image_is_noise(real_run: Path, baseline: Path, no_latency: Path, tmp_path: Path):
    """One image of 40 is a 2.5 pp drop, over the 1 pp threshold, but McNemar p = 1: no failure."""
    flipped = planted(real_run, tmp_path / "flipped", _misread(1))
    assert run_gate(flipped, baseline, no_latency, markdown=tmp_path / "gate.md") == 0
    assert "1 lost, 0 gained; McNemar p=1): drop > 1 pp but within noise" in (tmp_path / "gate.md").read_text()


def test_a_regression_in_one_slice_fails_when_overall_is_even(real_run: Path, tmp_path: Path):
    """Baseline: 8 short codes wrong; run: those right, 8 long codes wrong. Overall 8 lost and 8
    gained (p = 1); the long slice 8 lost (p = 0.008 < 0.05 / 2 slices): a regression."""
    config = tmp_path / "gate.toml"
    config.write_text(NO_LATENCY + "min_slice_images = 10\n")
    short_wrong = planted(real_run, tmp_path / "short-wrong", _misread(8, which=lambda truth: len(truth) <= 8))
    base = save_baseline(short_wrong, tmp_path / "short-wrong.json")
    long_wrong = planted(real_run, tmp_path / "long-wrong", _misread(8, which=lambda truth: len(truth) >= 9))
    assert run_gate(long_wrong, base, config, junit=tmp_path / "gate.xml") == 1
    cases = _junit_cases(tmp_path / "gate.xml")
    assert cases["tesseract: accuracy"] == cases["tesseract: accuracy [length=05-08]"] == "pass"
    assert cases["tesseract: accuracy [length=09-12]"] == "failure"


def test_cer_rise_alone_fails(real_run: Path, tmp_path: Path, no_latency: Path):
    """Ten images one character off in the baseline read nothing now: accuracy equal, CER up beyond noise."""
    one_off = planted(real_run, tmp_path / "one-off", _misread(10, lambda truth: truth[:-1] + "#"))
    base = save_baseline(one_off, tmp_path / "one-off.json")
    worse = planted(real_run, tmp_path / "worse", _misread(10))
    assert run_gate(worse, base, no_latency, junit=tmp_path / "gate.xml") == 1
    cases = _junit_cases(tmp_path / "gate.xml")
    assert cases["tesseract: cer"] == "failure" and cases["tesseract: accuracy"] == "pass"


def test_other_dataset_cannot_be_judged(real_run: Path, baseline: Path, no_latency: Path, tmp_path: Path):
    other = tmp_path / "other"
    shutil.copytree(real_run, other)
    run_json = json.loads((other / "run.json").read_text())
    run_json["dataset"]["fingerprint"] = "sha256:" + "0" * 64
    (other / "run.json").write_text(json.dumps(run_json))
    summarize(other)
    assert run_gate(other, baseline, no_latency, junit=tmp_path / "gate.xml") == 2
    assert _junit_cases(tmp_path / "gate.xml") == {"run: dataset": "error"}


def _with_twin(real_run: Path, dest: Path, twin: str, latency_factor: float = 1.0) -> Path:
    """A copy of the run with a second engine ``twin`` (Tesseract's records under another name);
    Tesseract's own latencies multiplied by ``latency_factor``."""
    shutil.copytree(real_run, dest)
    records = _records(dest)
    _write_records(dest, twin, [{**r, "engine": twin} for r in records])
    _write_records(dest, "tesseract", [{**r, "latency_ms": r["latency_ms"] * latency_factor} for r in records])
    shutil.copy(dest / "engines" / "tesseract.json", dest / "engines" / f"{twin}.json")
    run_json = json.loads((dest / "run.json").read_text())
    run_json["engines"].append(twin)
    (dest / "run.json").write_text(json.dumps(run_json))
    summarize(dest)
    return dest


def test_engine_missing_from_run_cannot_be_judged(real_run: Path, no_latency: Path, tmp_path: Path):
    two = save_baseline(_with_twin(real_run, tmp_path / "two", "twin"), tmp_path / "two.json")
    assert run_gate(real_run, two, no_latency, junit=tmp_path / "gate.xml") == 2
    assert _junit_cases(tmp_path / "gate.xml")["twin: present"] == "error"


def test_engine_that_failed_to_load_cannot_be_judged(real_run: Path, baseline: Path, no_latency: Path, tmp_path: Path):
    failed = tmp_path / "failed"
    shutil.copytree(real_run, failed)
    (failed / "engines" / "tesseract.json").write_text(
        json.dumps({"engine": "tesseract", "info": None, "load_s": None, "error": "EngineUnavailable: no traineddata"})
    )
    summarize(failed)
    assert run_gate(failed, baseline, no_latency, markdown=tmp_path / "gate.md") == 2
    assert "failed to load in the run: EngineUnavailable" in (tmp_path / "gate.md").read_text()


def test_latency_is_judged_as_a_ratio_to_the_reference(real_run: Path, tmp_path: Path):
    config = tmp_path / "gate.toml"
    config.write_text('latency_reference = "ref"\nmax_latency_ratio = 1.5\n')
    base = save_baseline(_with_twin(real_run, tmp_path / "base", "ref"), tmp_path / "base.json")
    unchanged = _with_twin(real_run, tmp_path / "slow-machine", "ref", latency_factor=1.0)
    assert run_gate(unchanged, base, config) == 0
    slower = _with_twin(real_run, tmp_path / "slower", "ref", latency_factor=3.0)
    assert run_gate(slower, base, config, junit=tmp_path / "gate.xml") == 1
    assert _junit_cases(tmp_path / "gate.xml")["tesseract: latency (p50_ms / ref)"] == "failure"


def test_default_config_needs_the_latency_reference(real_run: Path, baseline: Path, tmp_path: Path):
    """Latency gating is on by default (reference easyocr); a run without it cannot be judged."""
    assert run_gate(real_run, baseline, None, markdown=tmp_path / "gate.md") == 2
    assert "cannot judge latency" in (tmp_path / "gate.md").read_text()


def test_cli_run_with_gate_returns_the_gate_exit_code(real_run: Path, baseline: Path, tmp_path: Path):
    resumed = tmp_path / "resumed"
    shutil.copytree(real_run, resumed)
    dataset = json.loads((real_run / "run.json").read_text())["dataset"]["path"]
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--dataset",
            dataset,
            "--engines",
            "tesseract",
            "--out",
            str(resumed),
            "--resume",
            "--no-report",
            "--gate",
            str(baseline),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "regression gate: cannot judge (exit 2)" in result.output


@pytest.mark.parametrize(
    "problem", ["no baseline file", "not a baseline", "no run folder", "bad config key", "bad config value"]
)
def test_unreadable_inputs_cannot_be_judged(
    problem: str, real_run: Path, baseline: Path, no_latency: Path, tmp_path: Path
):
    args = {"run_dir": real_run, "baseline": baseline, "config": no_latency}
    bad = tmp_path / "bad"
    if problem == "no baseline file":
        args["baseline"] = tmp_path / "missing.json"
    elif problem == "not a baseline":
        bad.write_text(json.dumps({"format": "something-else"}))
        args["baseline"] = bad
    elif problem == "no run folder":
        args["run_dir"] = tmp_path / "no-run"
    else:
        bad.write_text("max_accuracy_drop = 2\n" if problem == "bad config key" else 'alpha = "small"\n')
        args["config"] = bad
    assert run_gate(**args, junit=tmp_path / "gate.xml") == 2
    assert _junit_cases(tmp_path / "gate.xml") == {"run: inputs": "error"}


def test_a_partial_run_is_no_baseline(real_run: Path, tmp_path: Path):
    partial = planted(real_run, tmp_path / "partial", lambda records: records.pop())
    with pytest.raises(BaselineError, match=f"results for {N_IMAGES - 1} of {N_IMAGES} images"):
        save_baseline(partial, tmp_path / "partial.json")


def test_a_baseline_with_nothing_to_judge_cannot_pass(real_run: Path, baseline: Path, no_latency: Path, tmp_path: Path):
    """Issue 25.11: a baseline edited to ``"engines": {}`` passed (exit 0)."""
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({**load_baseline(baseline), "engines": {}}))
    assert run_gate(real_run, empty, no_latency, markdown=tmp_path / "gate.md") == 2
    assert "nothing to judge" in (tmp_path / "gate.md").read_text()


def test_results_that_disagree_with_predictions_cannot_pass(
    real_run: Path, baseline: Path, no_latency: Path, tmp_path: Path
):
    """Issue 25.12: a run folder whose predictions were emptied (or rewritten) after its summary
    still held the old results.parquet and passed. Summarising removes the stale table; without
    that step the gate sees the disagreement. Either way: exit 2."""
    stale = tmp_path / "stale"
    shutil.copytree(real_run, stale)
    _write_records(stale, "tesseract", [])
    assert run_gate(stale, baseline, no_latency, markdown=tmp_path / "gate.md") == 2
    assert "results.parquet does not match predictions/ (40 rows, 0 readings" in (tmp_path / "gate.md").read_text()
    rewritten = tmp_path / "rewritten"
    shutil.copytree(real_run, rewritten)
    records = _records(rewritten)
    _misread(10)(records)
    _write_records(rewritten, "tesseract", records)
    assert run_gate(rewritten, baseline, no_latency) == 2
    summarize(stale)
    assert not (stale / "results.parquet").exists() and not (stale / "results.csv").exists()
    assert run_gate(stale, baseline, no_latency) == 2


# --- The project's own CI gate: the shipped two-stage weights on a fixed subset of serials. -----
# A real run of the engines recorded in the committed baseline (two-stage and easyocr, the latency
# reference) over the same first images, gated with the default thresholds. Regenerate the
# baseline when a change is meant to change results (docs/ci-gate.md).

PROJECT = Path(__file__).resolve().parent.parent
CI_BASELINE = PROJECT / "baselines" / "serials-two-stage.json"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_ci_gate_shipped_two_stage_weights_on_serials(tmp_path: Path):
    """CI gate: the shipped weights must not regress against baselines/serials-two-stage.json."""
    base = load_baseline(CI_BASELINE)
    opts = RunOptions(engines=tuple(base["engines"]), limit=base["dataset"]["limit"])
    run_dir = run(load_dataset(str(PROJECT / "datasets" / base["dataset"]["name"])), opts, tmp_path / "run")
    summarize(run_dir)
    code = run_gate(run_dir, CI_BASELINE, None, markdown=tmp_path / "gate.md")
    assert code == 0, (tmp_path / "gate.md").read_text()
