"""The runner end to end with real engines: CLI, results files, resume after a kill, isolation."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import CODES, make_dataset, render
from engine_doubles import CRASH_WIDTH, HANG_WIDTH
from typer.testing import CliRunner

from bench.cli import app
from bench.datasets import load_dataset
from bench.runner import RunOptions, run

BENCH = str(Path(sys.executable).parent / "bench")


def test_cli_run_writes_every_result_file(clean_dataset: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["run", "--dataset", str(clean_dataset), "--engines", "tesseract", "--out", str(out), "--no-report"]
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {
        "run.json",
        "engines",
        "predictions",
        "results.parquet",
        "results.csv",
        "summary.json",
    }
    summary = json.loads((out / "summary.json").read_text())
    t = summary["engines"]["tesseract"]
    assert t["info"]["label"].startswith("Tesseract 5") and t["load_s"] > 0
    assert t["metrics"]["n"] == len(CODES) and t["metrics"]["sequence_accuracy"] >= 0.5
    assert t["metrics"]["p50_ms"] > 0
    assert summary["run"]["dataset"]["fingerprint"].startswith("sha256:")
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == len(CODES) and set(table["engine"]) == {"tesseract"}
    assert (table["correct"] == (table["truth"] == table["prediction"])).all()


@pytest.mark.parametrize(
    "args",
    [
        ["--engines", "nope"],
        ["--dataset", "no-such-set"],
        ["--readout", "longest"],
        ["--engine-option", "tesseract.classifier=x.pt"],
        ["--engine-option", "two-stage.classifier=x.pt"],
        ["--engine-option", "tesseract"],
    ],
)
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
    recs = {
        r["file"]: r for r in map(json.loads, (run_dir / "predictions" / "tesseract.jsonl").read_text().splitlines())
    }
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
    assert [by_file[f]["prediction"] for f in ("000.png", "001.png", "002.png", "003.png")] == [
        "AB12",
        "CD34",
        "EF56",
        "GH78",
    ]
    assert "weights exploded" in json.loads((run_dir / "engines" / f"{broken}.json").read_text())["error"]
    assert len((run_dir / "predictions" / "tesseract.jsonl").read_text().splitlines()) == 6


@pytest.mark.slow
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
    assert (
        runner.invoke(
            app, ["run", "--dataset", str(a), "--engines", "tesseract", "--out", str(out), "--no-report"]
        ).exit_code
        == 0
    )
    again = runner.invoke(app, ["run", "--dataset", str(a), "--engines", "tesseract", "--out", str(out), "--no-report"])
    assert again.exit_code == 2 and "--resume" in again.output
    other = runner.invoke(
        app, ["run", "--dataset", str(b), "--engines", "tesseract", "--out", str(out), "--no-report", "--resume"]
    )
    assert other.exit_code == 2 and "another version of the dataset" in other.output


def test_serials_metadata_become_slices(tmp_path: Path):
    run_dir = run(load_dataset("serials"), RunOptions(engines=("tesseract",), limit=12), tmp_path / "run")
    from bench.results import summarize

    slices = summarize(run_dir)["engines"]["tesseract"]["slices"]
    assert set(slices["style"]) == {
        "laser_etched",
        "dot_matrix",
        "thermal_label",
        "embossed",
        "segment_display",
        "ocr_font",
    }
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
    run(
        ds,
        RunOptions(engines=engines),
        out,
        on_event=lambda engine, event, n: order.extend([engine] * n if event == "advance" else []),
    )
    a, b = engines
    assert order == [a] * TURN + [b] * TURN + [b] * TURN + [a] * TURN + [a] * 10 + [b] * 10
    for e in engines:
        recs = [json.loads(x) for x in (out / "predictions" / f"{e}.jsonl").read_text().splitlines()]
        assert [r["file"] for r in recs] == [it.file for it in ds.items]
        assert sum(r["prediction"] == r["truth"] for r in recs) >= 0.5 * len(recs)


def test_two_stage_reads_with_a_classifier_given_as_an_engine_option(clean_dataset: Path, tmp_path: Path):
    """The weights read are the ones given (recorded by checksum), and a resume must use them too."""
    from ocr2stage.classification.weights import DEFAULT_PATH, sidecar

    mine = tmp_path / "mine.pt"
    shutil.copy(DEFAULT_PATH, mine)
    shutil.copy(sidecar(DEFAULT_PATH), sidecar(mine))
    out = tmp_path / "run"
    args = ["run", "--dataset", str(clean_dataset), "--engines", "two-stage", "--out", str(out), "--no-report"]
    option = ["--engine-option", f"two-stage.classifier={mine}"]
    result = CliRunner().invoke(app, args + option)
    assert result.exit_code == 0, result.output
    info = json.loads((out / "engines" / "two-stage.json").read_text())["info"]
    assert set(info["weights"]) == {"craft_mlt_25k.pth", "mine.pt"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["engines"]["two-stage"]["metrics"]["sequence_accuracy"] >= 0.5
    resumed = CliRunner().invoke(app, args + ["--resume"])
    assert resumed.exit_code == 2 and "engine options" in resumed.output


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", "0"],
        ["--timeout", "-1"],
        ["--engines", "nosuchmod:Cls"],
        ["--engines", "engine_doubles:NoSuchClass"],
        ["--engines", ","],
        ["--engines", "tesseract,tesseract"],
    ],
)
def test_settings_that_would_lose_every_image_exit_before_work(args: list[str], clean_dataset: Path, tmp_path: Path):
    """Issues 25.13 and 25.14: a non-positive timeout, an engine that cannot be imported and an empty
    engine list used to start (and lose every image, or run nothing and exit 0)."""
    base = ["run", "--dataset", str(clean_dataset), "--engines", "tesseract", "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(app, base + args)
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "r").exists()
    assert any(
        w in result.output
        for w in (
            "timeout must be a positive",
            "cannot import",
            "has no engine class",
            "--engines is empty",
            "named more than once",
        )
    ), result.output


def test_invalid_manifest_exits_2_naming_the_field(tmp_path: Path):
    """Issue 25.4: ``"readout": "middle_line"`` crashed mid-run; now exit 2 before any work."""
    root = make_dataset(tmp_path / "d", ["AB12"])
    (root / "manifest.json").write_text('{"readout": "middle_line"}')
    result = CliRunner().invoke(
        app, ["run", "--dataset", str(root), "--engines", "tesseract", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "field 'readout' is 'middle_line'" in result.output
    assert not (tmp_path / "r").exists()


def test_decompression_bombs_cost_only_their_own_images(tmp_path: Path):
    """Issue 25.1: three bombs in a row killed the worker three times, the engine gave up and the
    good images after them were "not run", and the report crashed. Each is now its own error."""
    from test_datasets import bomb

    root = make_dataset(tmp_path / "d", ["AB12", "CD34"])
    for i in range(3):
        bomb(root / "images" / f"bomb{i}.png")
    (root / "labels.csv").write_text("file,text\nbomb0.png,X\nbomb1.png,Y\nbomb2.png,Z\n000.png,AB12\n001.png,CD34\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--dataset", str(root), "--engines", "tesseract", "--out", str(out)])
    assert result.exit_code == 0, result.output
    recs = {r["file"]: r for r in map(json.loads, (out / "predictions" / "tesseract.jsonl").read_text().splitlines())}
    assert all("image too large: bomb" in recs[f"bomb{i}.png"]["error"] for i in range(3))
    assert [recs[f]["prediction"] for f in ("000.png", "001.png")] == ["AB12", "CD34"]
    assert "image too large" in (out / "report.html").read_text()


def _worker_pids(parent: int) -> list[int]:
    """Child processes of ``parent`` (the engine workers of a `bench run`)."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


@pytest.mark.slow
def test_killing_the_worker_at_random_points_loses_nothing(tmp_path: Path):
    """Issue 25.2: a killed worker crashed the parent (ConnectionResetError) in 4 of 10 tries. Here
    the worker is SIGKILLed 12 times at random points of one run (while loading, reading, or
    between images): the run finishes (exit 0), every image has exactly one result, a kill costs at
    most the one image it interrupted, and a resume reads those images again."""
    import random

    rng = random.Random(25)
    n_kills = 12
    root = make_dataset(tmp_path / "d", CODES * 50)
    out = tmp_path / "run"
    preds = out / "predictions" / "tesseract.jsonl"
    cmd = [BENCH, "run", "--dataset", str(root), "--engines", "tesseract", "--out", str(out), "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def good_lines() -> int:
        lines = preds.read_text().splitlines() if preds.exists() else []
        return sum('"error": null' in ln for ln in lines)

    kills = 0
    while kills < n_kills and proc.poll() is None:
        seen = good_lines()
        deadline = time.time() + 120
        while good_lines() == seen and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)  # a successful read since the last kill, so failures never pile up
        time.sleep(rng.uniform(0, 0.1))
        pids = _worker_pids(proc.pid)
        # the parent's own multiprocessing helper is not a worker: kill the one that runs `serve`
        workers = [
            p
            for p in pids
            if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
            and b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            kills += 1
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert kills == n_kills, "the run ended before every kill"
    recs = [json.loads(x) for x in preds.read_text().splitlines()]
    files = sorted(f"{i:03d}.png" for i in range(len(CODES) * 50))
    assert sorted(r["file"] for r in recs) == files  # exactly one result per image
    died = [r for r in recs if r["error"]]
    assert len(died) <= n_kills and all("process died" in r["error"] for r in died)
    assert "Traceback" not in stderr
    resumed = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    after = [json.loads(x) for x in preds.read_text().splitlines()]
    assert sorted(r["file"] for r in after) == files and not any(r["error"] for r in after)
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["resumed"][0]["errors_retried"] == len(died)


def test_resume_refuses_other_engines_readout_or_limit(clean_dataset: Path, tmp_path: Path):
    """Issue 25.7: a resume with another engine set or readout was accepted, and its results mixed
    with the first run's under a run.json naming only the last."""
    out = tmp_path / "run"
    base = ["run", "--dataset", str(clean_dataset), "--out", str(out), "--no-report"]
    assert CliRunner().invoke(app, base + ["--engines", "tesseract"]).exit_code == 0
    before = (out / "run.json").read_text()
    for extra, what in (
        (["--engines", "tesseract,engine_doubles:FaultyTesseract"], "engines"),
        (["--engines", "tesseract", "--readout", "tallest_line"], "scoring"),
        (["--engines", "tesseract", "--limit", "2"], "limit"),
    ):
        result = CliRunner().invoke(app, base + extra + ["--resume"], terminal_width=300)
        assert result.exit_code == 2 and f"it was run with {what}" in result.output.replace("\n", ""), result.output
    assert (out / "run.json").read_text() == before


def test_resume_retries_errored_images_unless_kept(tmp_path: Path):
    """Issue 25.8: images that timed out stayed errors after a resume with a sane timeout."""
    root = make_dataset(tmp_path / "d", ["AB12", "CD34", "EF56"])
    out = tmp_path / "run"
    preds = out / "predictions" / "tesseract.jsonl"
    run(load_dataset(str(root)), RunOptions(engines=("tesseract",)), out)
    recs = [json.loads(x) for x in preds.read_text().splitlines()]
    for r in recs[:2]:  # as a run with a too short timeout leaves them
        r.update(reading=None, prediction="", latency_ms=None, error="timeout: no answer from tesseract within 0s")
    preds.write_text("".join(json.dumps(r) + "\n" for r in recs))
    base = ["run", "--dataset", str(root), "--engines", "tesseract", "--out", str(out), "--no-report", "--resume"]
    kept = CliRunner().invoke(app, base + ["--keep-errors"])
    assert (
        kept.exit_code == 0
        and sum(r["error"] is not None for r in map(json.loads, preds.read_text().splitlines())) == 2
    )
    retried = CliRunner().invoke(app, base)
    assert retried.exit_code == 0, retried.output
    after = [json.loads(x) for x in preds.read_text().splitlines()]
    assert sorted(r["file"] for r in after) == ["000.png", "001.png", "002.png"]
    assert [r["error"] for r in after] == [None] * 3 and {r["prediction"] for r in after} == {"AB12", "CD34", "EF56"}
    assert [e["errors_retried"] for e in json.loads((out / "run.json").read_text())["resumed"]] == [0, 2]


def test_run_json_says_where_the_data_came_from(tmp_path: Path):
    """Issue 25.6: a manifest ``root`` is named in the output and in run.json."""
    data = make_dataset(tmp_path / "data", ["AB12"])
    pointer = tmp_path / "pointer"
    pointer.mkdir()
    (pointer / "manifest.json").write_text('{"root": "../data"}')
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["run", "--dataset", str(pointer), "--engines", "tesseract", "--out", str(out), "--no-report"],
        terminal_width=300,
    )
    assert result.exit_code == 0 and f"data: {data.resolve()} (the 'root' of" in result.output.replace("\n", "")
    dataset = json.loads((out / "run.json").read_text())["dataset"]
    assert dataset["path"] == str(data.resolve()) and dataset["folder"] == str(pointer.resolve())
