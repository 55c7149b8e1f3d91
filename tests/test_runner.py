"""The runner end to end with real engines: CLI, results files, resume after a kill, isolation."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.datasets import load_dataset
from bench.runner import RunOptions, run
from conftest import CODES, make_dataset, render
from engine_doubles import CRASH_WIDTH, HANG_WIDTH

BENCH = str(Path(sys.executable).parent / "bench")


def test_cli_run_writes_every_result_file(clean_dataset: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--dataset", str(clean_dataset), "--engines", "tesseract",
                                      "--out", str(out), "--no-report"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"run.json", "engines", "predictions", "results.parquet", "results.csv", "summary.json"}
    summary = json.loads((out / "summary.json").read_text())
    t = summary["engines"]["tesseract"]
    assert t["info"]["label"].startswith("Tesseract 5") and t["load_s"] > 0
    assert t["metrics"]["n"] == len(CODES) and t["metrics"]["sequence_accuracy"] >= 0.5
    assert t["metrics"]["p50_ms"] > 0
    assert summary["run"]["dataset"]["fingerprint"].startswith("sha256:")
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == len(CODES) and set(table["engine"]) == {"tesseract"}
    assert (table["correct"] == (table["truth"] == table["prediction"])).all()


@pytest.mark.parametrize("args", [["--engines", "nope"], ["--dataset", "no-such-set"], ["--readout", "longest"],
                                  ["--engine-option", "tesseract.classifier=x.pt"],
                                  ["--engine-option", "two-stage.classifier=x.pt"],
                                  ["--engine-option", "tesseract"]])
def test_usage_errors_exit_before_work(args: list[str], clean_dataset: Path, tmp_path: Path):
    base = ["run", "--dataset", str(clean_dataset), "--engines", "tesseract", "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(app, base + args)
    assert result.exit_code == 2
    assert not (tmp_path / "r").exists()


def test_per_image_problems_are_recorded_and_the_run_goes_on(tmp_path: Path):
    root = make_dataset(tmp_path / "d", ["AB12", "CD34"])
    (root / "images" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    with (root / "labels.csv").open("a") as f:
        f.write("bad.png,EF56\nmissing.png,GH78\n")
    run_dir = run(load_dataset(str(root)), RunOptions(engines=("tesseract",)), tmp_path / "run")
    recs = {r["file"]: r for r in map(json.loads, (run_dir / "predictions" / "tesseract.jsonl").read_text().splitlines())}
    assert "corrupt or unreadable image: bad.png" in recs["bad.png"]["error"]
    assert "image not found" in recs["missing.png"]["error"]
    assert recs["000.png"]["error"] is None and recs["000.png"]["prediction"] == "AB12"


def test_engine_crash_hang_and_load_failure_lose_nothing_else(tmp_path: Path):
    root = make_dataset(tmp_path / "d", ["AB12", "CD34", "EF56", "GH78"])
    render("CRASH1", (CRASH_WIDTH, 64)).save(root / "images" / "crash.png")
    render("HANG2", (HANG_WIDTH, 64)).save(root / "images" / "hang.png")
    with (root / "labels.csv").open("a") as f:
        f.write("crash.png,CRASH1\nhang.png,HANG2\n")
    ds = load_dataset(str(root))
    order = ["000.png", "crash.png", "001.png", "hang.png", "002.png", "003.png"]
    ds.items.sort(key=lambda it: order.index(it.file))
    faulty, broken = "engine_doubles:FaultyTesseract", "engine_doubles:BrokenLoad"
    run_dir = run(ds, RunOptions(engines=(faulty, broken, "tesseract"), timeout_s=5), tmp_path / "run")
    recs = [json.loads(x) for x in (run_dir / "predictions" / f"{faulty}.jsonl").read_text().splitlines()]
    by_file = {r["file"]: r for r in recs}
    assert [r["file"] for r in recs] == order  # every image has exactly one result
    assert "process died (exit code 3)" in by_file["crash.png"]["error"]
    assert "timeout" in by_file["hang.png"]["error"]
    assert [by_file[f]["prediction"] for f in ("000.png", "001.png", "002.png", "003.png")] == ["AB12", "CD34", "EF56", "GH78"]
    assert "weights exploded" in json.loads((run_dir / "engines" / f"{broken}.json").read_text())["error"]
    assert len((run_dir / "predictions" / "tesseract.jsonl").read_text().splitlines()) == 6


def test_killed_run_resumes_without_losing_or_repeating(tmp_path: Path):
    root = make_dataset(tmp_path / "d", CODES * 3)
    out = tmp_path / "run"
    cmd = [BENCH, "run", "--dataset", str(root), "--engines", "easyocr", "--out", str(out), "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    preds = out / "predictions" / "easyocr.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (not preds.exists() or len(preds.read_text().splitlines()) < 3):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = preds.read_text().splitlines()
    assert 3 <= len(first) < len(CODES) * 3, "the run should have been killed part-way"
    with preds.open("a") as f:
        f.write('{"engine": "easyocr", "file": "torn')  # a line cut by the kill
    result = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = preds.read_text().splitlines()
    files = [json.loads(x)["file"] for x in lines]
    assert lines[: len(first)] == first
    assert sorted(files) == sorted(f"{i:03d}.png" for i in range(len(CODES) * 3))
    assert json.loads((out / "summary.json").read_text())["engines"]["easyocr"]["metrics"]["n"] == len(CODES) * 3


def test_resume_refuses_another_dataset(tmp_path: Path):
    a = make_dataset(tmp_path / "a", ["AB12"])
    b = make_dataset(tmp_path / "b", ["ZZ99"])
    out = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(app, ["run", "--dataset", str(a), "--engines", "tesseract", "--out", str(out), "--no-report"]).exit_code == 0
    again = runner.invoke(app, ["run", "--dataset", str(a), "--engines", "tesseract", "--out", str(out), "--no-report"])
    assert again.exit_code == 2 and "--resume" in again.output
    other = runner.invoke(app, ["run", "--dataset", str(b), "--engines", "tesseract", "--out", str(out), "--no-report", "--resume"])
    assert other.exit_code == 2 and "another version of the dataset" in other.output


def test_serials_metadata_become_slices(tmp_path: Path):
    run_dir = run(load_dataset("serials"), RunOptions(engines=("tesseract",), limit=12), tmp_path / "run")
    from bench.results import summarize

    slices = summarize(run_dir)["engines"]["tesseract"]["slices"]
    assert set(slices["style"]) == {"laser_etched", "dot_matrix", "thermal_label", "embossed", "segment_display", "ocr_font"}
    assert sum(m["n"] for m in slices["style"].values()) == 12
    assert "length" in slices
    table = pd.read_parquet(run_dir / "results.parquet")
    assert table["chars_truth"].notna().all(), "serials has character boxes and tesseract reports them"


def test_engines_take_turns_of_sixteen_images(tmp_path: Path):
    """Engines read in turns (so machine-load drift slows them alike), the first engine rotating."""
    from bench.runner import TURN

    root = make_dataset(tmp_path / "d", CODES * 7)  # 42 images: turns of 16, 16 and 10
    ds = load_dataset(str(root))
    out = tmp_path / "run"
    engines = ("tesseract", "engine_doubles:FaultyTesseract")
    order: list[str] = []
    run(ds, RunOptions(engines=engines), out,
        on_event=lambda engine, event, n: order.extend([engine] * n if event == "advance" else []))
    a, b = engines
    assert order == [a] * TURN + [b] * TURN + [b] * TURN + [a] * TURN + [a] * 10 + [b] * 10
    for e in engines:
        recs = [json.loads(x) for x in (out / "predictions" / f"{e}.jsonl").read_text().splitlines()]
        assert [r["file"] for r in recs] == [it.file for it in ds.items]
        assert sum(r["prediction"] == r["truth"] for r in recs) >= 0.5 * len(recs)


def test_two_stage_reads_with_a_classifier_given_as_an_engine_option(clean_dataset: Path, tmp_path: Path):
    """The weights read are the ones given (recorded by checksum), and a resume must use them too."""
    from ocr2stage.pipeline import SECOND_OPINION_PATH

    out = tmp_path / "run"
    args = ["run", "--dataset", str(clean_dataset), "--engines", "two-stage", "--out", str(out), "--no-report"]
    option = ["--engine-option", f"two-stage.classifier={SECOND_OPINION_PATH}"]
    result = CliRunner().invoke(app, args + option)
    assert result.exit_code == 0, result.output
    info = json.loads((out / "engines" / "two-stage.json").read_text())["info"]
    assert set(info["weights"]) == {"craft_mlt_25k.pth", "classifier_second.pt"}
    assert "second opinion" not in info["models"]["classifier"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["engines"]["two-stage"]["metrics"]["sequence_accuracy"] >= 0.5
    resumed = CliRunner().invoke(app, args + ["--resume"])
    assert resumed.exit_code == 2 and "engine options" in resumed.output
