"""Scaling out (issue 23): several workers per engine, throughput batches, and engines as Ray actors
on a real local Ray cluster started here. Tesseract and two-stage are deterministic, so a reading
must not depend on how the images were spread."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.datasets import load_dataset
from bench.runner import RunOptions, run

BIN = Path(sys.executable).parent
N = 20


def _records(run_dir: Path, engine: str = "tesseract") -> list[dict]:
    return [json.loads(x) for x in (run_dir / "predictions" / f"{engine}.jsonl").read_text().splitlines()]


def _predictions(run_dir: Path, engine: str = "tesseract") -> list[tuple[str, str]]:
    return [(r["file"], r["prediction"]) for r in _records(run_dir, engine)]


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)


def test_two_workers_read_what_one_reads_in_the_datasets_order(tmp_path: Path):
    ds = load_dataset("serials")
    one = run(ds, RunOptions(engines=("tesseract",), limit=N), tmp_path / "one")
    two = run(ds, RunOptions(engines=("tesseract",), limit=N, workers=2), tmp_path / "two")
    assert _predictions(two) == _predictions(one)
    assert [f for f, _ in _predictions(two)] == [it.file for it in ds.items[:N]]
    assert all(r["latency_ms"] > 0 and r["error"] is None for r in _records(two))
    options = json.loads((two / "run.json").read_text())["options"]
    assert options["workers"] == 2 and options["batch"] is None and "contention" in options["latency"]
    throughput = json.loads((two / "engines" / "tesseract.json").read_text())["throughput"]
    assert throughput["images"] == N and throughput["workers"] == 2 and throughput["images_per_s"] > 0


def test_two_workers_killed_and_resumed_lose_nothing(tmp_path: Path):
    out = tmp_path / "run"
    cmd = [
        str(BIN / "bench"),
        "run",
        "--dataset",
        "serials",
        "--limit",
        str(N),
        "--engines",
        "tesseract",
        "--workers",
        "2",
        "--out",
        str(out),
        "--no-report",
    ]
    preds = out / "predictions" / "tesseract.jsonl"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _wait_for_lines(preds, 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = preds.read_text().splitlines()
    assert 3 <= len(first) < N, "the run should have been killed part-way"
    result = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = preds.read_text().splitlines()
    assert set(first) <= set(lines), "a result written before the kill was lost"
    files = [json.loads(x)["file"] for x in lines]
    assert files == [it.file for it in load_dataset("serials").items[:N]]  # each once, in order
    table = pd.read_parquet(out / "results.parquet")
    assert table["file"].tolist() == files


def test_batches_are_read_alike_and_say_their_latency_is_not_measured(tmp_path: Path):
    ds = load_dataset("serials")
    one = run(ds, RunOptions(engines=("tesseract",), limit=8), tmp_path / "one")
    out = tmp_path / "batch"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--dataset",
            "serials",
            "--limit",
            "8",
            "--engines",
            "tesseract",
            "--batch",
            "4",
            "--workers",
            "2",
            "--out",
            str(out),
            "--no-report",
        ],
    )
    assert result.exit_code == 0, result.output
    assert _predictions(out) == _predictions(one)
    assert all(r["latency_ms"] is None for r in _records(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["options"]["latency"].startswith("not measured: throughput mode (--batch 4)")
    assert summary["engines"]["tesseract"]["metrics"]["p50_ms"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "0"], "--workers"),
        (["--batch", "0"], "--batch"),
        (["--cluster", "somewhere"], "use one of local, auto, ray://HOST:PORT"),
        (["--engine-resources", "tesseract=cpu:1"], "go with --cluster"),
        (["--cluster", "local", "--engine-resources", "tesseract=cpu:lots"], "is not RESOURCE:AMOUNT"),
        (["--cluster", "local", "--engine-resources", "easyocr=cpu:1"], "ENGINE one of tesseract"),
    ],
)
def test_bad_scaling_options_exit_2_before_any_work(args: list[str], message: str, tmp_path: Path):
    result = CliRunner().invoke(
        app,
        ["run", "--dataset", "serials", "--engines", "tesseract", "--out", str(tmp_path / "r"), *args],
        terminal_width=300,
    )
    assert result.exit_code == 2 and message in result.output.replace("\n", ""), result.output
    assert not (tmp_path / "r").exists()


def test_cluster_without_ray_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed: import fails
    result = CliRunner().invoke(
        app,
        ["run", "--dataset", "serials", "--engines", "tesseract", "--cluster", "local", "--out", str(tmp_path / "r")],
        terminal_width=300,
    )
    assert result.exit_code == 2, result.output
    assert "pip install 'ocr2stage-bench[ray]'" in result.output.replace("\n", ""), result.output
    assert not (tmp_path / "r").exists()


# --- The Ray pool's scheduling, against a stand-in for Ray: actors read their calls in order, in real time


class _FakeRef:
    def __init__(self, done_at: float, results: list):
        self.done_at, self.results = done_at, results


class _FakeActor:
    """Reads each call after the ones before it, ``seconds[file]`` per image (inf: hangs)."""

    def __init__(self, seconds: dict[str, float]):
        self.seconds, self.free_at = seconds, 0.0
        self.read = self.load = self  # handle.read.remote(jobs), as Ray's handles are called

    def remote(self, jobs: list) -> _FakeRef:
        self.free_at = max(time.monotonic(), self.free_at) + sum(self.seconds[f] for f, _, _ in jobs)
        return _FakeRef(self.free_at, [(f, f"read {f}", 1.0, None) for f, _, _ in jobs])


class _FakeRay:
    class exceptions:  # noqa: N801 - ray.exceptions
        RayError = RuntimeError

    def wait(self, refs: list[_FakeRef], num_returns: int, timeout: float) -> tuple[list, list]:
        time.sleep(max(0.0, min(min(r.done_at for r in refs) - time.monotonic(), timeout)))
        ready = [r for r in refs if r.done_at <= time.monotonic()]
        return ready, [r for r in refs if r not in ready]

    def get(self, ref: _FakeRef) -> list:
        return ref.results

    def kill(self, handle: _FakeActor, no_restart: bool) -> None:
        handle.free_at = float("inf")


def _fake_ray_read(
    seconds: dict[str, float], timeout_s: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, str | None], int]:
    """Each image's error (None when read) and how many actors were started, one worker."""
    import bench.cluster as cluster

    monkeypatch.setattr(cluster, "require_ray", _FakeRay)
    pool = cluster.RayPool(
        "tesseract",
        RunOptions(engines=("tesseract",), timeout_s=timeout_s),
        tmp_path,
        lambda *_: None,
        cluster.ClusterSpec("auto"),
    )
    started: list[_FakeActor] = []

    def start(slot: Any, k: int) -> None:  # a new actor, loaded at once
        slot.handle = _FakeActor(seconds)
        started.append(slot.handle)

    monkeypatch.setattr(pool, "_start", start)
    results = {file: error for file, _, _, error in pool.read([(f, f) for f in seconds])}
    assert sorted(results) == sorted(seconds), "every image once"
    return results, len(started)


def test_a_chunk_queued_behind_another_in_an_actor_is_not_timed_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # both sent at once; b answers 1.2 s after it was sent, 0.6 s after the actor started it
    results, actors = _fake_ray_read({"a.png": 0.6, "b.png": 0.6}, 1.0, tmp_path, monkeypatch)
    assert results == {"a.png": None, "b.png": None} and actors == 1


def test_an_image_that_hangs_costs_two_timeouts_and_no_image_queued_behind_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # hang.png times out on two actors, with ok.png queued behind it each time: ok.png was never
    # started there, so it is sent again without using its retry, and read by the third actor
    results, actors = _fake_ray_read({"hang.png": float("inf"), "ok.png": 0.01}, 0.3, tmp_path, monkeypatch)
    assert results["ok.png"] is None and actors == 3
    assert results["hang.png"] is not None and "also lost on a retry" in results["hang.png"]


# --- Ray: a real local cluster (2 CPUs) started here, as `ray start --head` starts one on a real head node


def _has_ray_token() -> bool:
    """A token where Ray looks for one (docs.ray.io ray-security/token-auth)."""
    return bool(
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or (Path.home() / ".ray" / "auth_token").is_file()
    )


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a Ray head started for these tests, with token authentication; this process
    is connected to it. The head's processes end with it (``--block``: they die with its group).

    Ray 2.60 turns token authentication on for ``ray start --head`` when a token exists
    (``~/.ray/auth_token``, which any local ``ray.init()`` writes), but a driver given the head's
    address uses it only with ``RAY_AUTH_MODE=token`` in its environment, read when ray is
    imported: conftest.py sets it for this session, and the head gets it too. ``ray start``
    advertises the machine's address whatever ``--node-ip-address`` says (it maps 127.0.0.1 to
    it), so none is given; the token protects the head."""
    import ray  # the [ray] extra; scripts/setup.sh installs it, so a missing one fails here

    from bench.cluster import SLOW_START

    if not _has_ray_token():
        subprocess.run(
            [str(BIN / "ray"), "get-auth-token", "--generate"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
            timeout=300,
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("ray-head") / "head.log"
    with log.open("w") as out:
        head = subprocess.Popen(
            [
                str(BIN / "ray"),
                "start",
                "--head",
                "--block",
                "--num-cpus=2",
                f"--port={port}",
                "--include-dashboard=false",
                "--disable-usage-stats",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**SLOW_START, **os.environ},
            start_new_session=True,
        )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.time() < deadline, f"the Ray head did not start:\n{log.read_text()}"
            time.sleep(0.5)
        ray.init(address=address, log_to_driver=False)
        yield address
    finally:
        ray.shutdown()
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(60)
        # `ray start` recorded the head as the machine's current cluster, where a later ray.init()
        # without an address would look for it; killed, it does not take the record back
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        with suppress(OSError):
            if current.read_text().strip().endswith(f":{port}"):
                current.unlink()


RAY_N = 30
DETERMINISTIC = ("tesseract", "two-stage")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    opts = RunOptions(engines=DETERMINISTIC, limit=RAY_N)
    return run(load_dataset("serials"), opts, tmp_path_factory.mktemp("local"))


@pytest.mark.ray
def test_ray_actors_read_what_the_local_runner_reads(ray_cluster: str, local_run: Path, tmp_path: Path):
    from bench.cluster import ClusterSpec
    from bench.cluster import run as run_on_ray
    from bench.results import summarize

    # every engine's actors live for the whole run: 2 engines x 2 actors share the 2 CPUs
    spec = ClusterSpec("auto", resources={e: {"cpu": 0.5} for e in DETERMINISTIC})
    opts = RunOptions(engines=DETERMINISTIC, limit=RAY_N, workers=2, cluster="auto")
    out = run_on_ray(load_dataset("serials"), opts, tmp_path / "ray", spec)
    summary = summarize(out)
    assert summary["run"]["options"]["cluster"] == "auto"
    for engine in DETERMINISTIC:
        assert _predictions(out, engine) == _predictions(local_run, engine), engine
        assert all(r["error"] is None and r["latency_ms"] > 0 for r in _records(out, engine))
        assert summary["engines"][engine]["metrics"]["n"] == RAY_N


@pytest.mark.ray
def test_an_actor_killed_mid_run_loses_nothing_and_writes_nothing_twice(
    ray_cluster: str, local_run: Path, tmp_path: Path
):
    import ray

    from bench.cluster import ClusterSpec, RayPool

    pools: list[RayPool] = []
    killed: list[str] = []

    def pool(engine, opts, run_dir, on_event):  # the cluster's own pool, kept to find a busy actor
        pools.append(RayPool(engine, opts, run_dir, on_event, ClusterSpec("auto")))
        return pools[-1]

    def on_event(engine: str, event: str, n: int) -> None:
        busy = [s for p in pools for s in p.slots if s.calls]
        if event == "advance" and not killed and busy:  # after the first result, mid-chunk
            killed.append(busy[0].calls[0].chunk[0][0])
            ray.kill(busy[0].handle, no_restart=True)

    out = run(
        load_dataset("serials"),
        RunOptions(engines=("tesseract",), limit=RAY_N, workers=2, batch=3),
        tmp_path / "ray",
        on_event=on_event,
        pool=pool,
    )
    assert killed, "no actor was busy after the first result"
    assert _predictions(out) == _predictions(local_run)  # every image once, in order, read alike
    assert not any(r["error"] for r in _records(out))
    assert json.loads((out / "engines" / "tesseract.json").read_text())["throughput"]["resent"] >= 1


@pytest.mark.ray
def test_a_killed_driver_resumes_without_losing_or_repeating(ray_cluster: str, local_run: Path, tmp_path: Path):
    out = tmp_path / "run"
    cmd = [
        str(BIN / "bench"),
        "run",
        "--dataset",
        "serials",
        "--limit",
        str(RAY_N),
        "--engines",
        "tesseract",
        "--cluster",
        "auto",
        "--out",
        str(out),
        "--no-report",
    ]
    env = {**os.environ, "RAY_ADDRESS": ray_cluster}
    preds = out / "predictions" / "tesseract.jsonl"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    _wait_for_lines(preds, 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = preds.read_text().splitlines()
    assert 3 <= len(first) < RAY_N, "the driver should have been killed part-way"
    result = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    lines = preds.read_text().splitlines()
    assert set(first) <= set(lines)
    assert _predictions(out) == _predictions(local_run)
