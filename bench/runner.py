"""Drive engines over a dataset, one worker process per engine, writing results as they come.

Why a process per engine: an engine that segfaults, leaks or hangs must not take the other
engines' results with it. The parent is the only writer of the run folder; every result line is
flushed at once, so a run killed at any point resumes (``resume=True``) and loses nothing.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import __version__
from bench.datasets import Dataset, fingerprint
from bench.engines.base import Reading
from bench.readout import normalize, read_out
from bench.worker import serve

REPORTS = Path(__file__).resolve().parent.parent / "reports"
MAX_CONSECUTIVE_FAILURES = 3


class RunError(RuntimeError):
    """The run cannot start (e.g. resuming a folder made from another dataset)."""


@dataclass(frozen=True)
class RunOptions:
    engines: tuple[str, ...]
    device: str = "cpu"
    limit: int | None = None
    timeout_s: float = 120.0
    """Longest one image may take before its engine process is killed and restarted."""
    load_timeout_s: float = 600.0
    readout: str | None = None
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


OnEvent = Callable[[str, str, int], None]
"""Progress callback: (engine, event, count) with event "total", "advance" or "status:<text>"."""


def machine() -> dict[str, Any]:
    try:
        import torch

        cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        cuda = None
    cpu = platform.processor()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
            "cores": os.cpu_count(), "gpu": cuda}


def code_version() -> str:
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, check=True).stdout.strip()
        return f"{__version__}+{rev}"
    except (OSError, subprocess.CalledProcessError):
        return __version__


def default_run_dir(dataset: Dataset) -> Path:
    return REPORTS / f"{dataset.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _read_done(path: Path) -> dict[str, dict[str, Any]]:
    """Results already written for one engine; a torn last line (killed mid-write) is dropped."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    good = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        done[rec["file"]] = rec
        good.append(line)
    path.write_text("".join(ln + "\n" for ln in good), encoding="utf-8")
    return done


class _Writer:
    """Appends one engine's result lines, flushed and fsynced one by one."""

    def __init__(self, path: Path, dataset: Dataset, manifest: dict[str, Any]):
        self._f = path.open("a", encoding="utf-8")
        self._items = {it.file: it for it in dataset.items}
        self._manifest = manifest

    def write(self, engine: str, file: str, reading: dict | None, ms: float | None, error: str | None) -> None:
        item = self._items[file]
        pred = "" if reading is None else read_out(Reading.from_dict(reading), self._manifest)
        rec = {"engine": engine, "file": file, "truth": normalize(item.text, self._manifest),
               "prediction": pred, "reading": reading, "latency_ms": ms, "error": error,
               "meta": item.meta, "truth_chars": item.chars}
        self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def _run_engine(engine: str, jobs: list[tuple[str, str]], opts: RunOptions, run_dir: Path,
                writer: _Writer, on_event: OnEvent) -> None:
    """Feed ``jobs`` to worker processes until all have a result; restart after a crash or hang."""
    ctx = mp.get_context("spawn")
    pending = list(jobs)
    failures = 0
    engine_json = run_dir / "engines" / f"{engine}.json"
    while pending:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=serve, args=(engine, opts.device, pending, child, run_dir / "engines" / f"{engine}.log"), daemon=True)
        proc.start()
        child.close()
        timeout = opts.load_timeout_s
        on_event(engine, "status:loading", 0)
        problem = None
        while True:
            if not parent.poll(timeout):
                problem = f"timeout: no answer from {engine} within {timeout:.0f}s"
                break
            try:
                msg = parent.recv()
            except EOFError:
                proc.join(5)
                problem = f"{engine} process died (exit code {proc.exitcode})"
                break
            if msg[0] == "loaded":
                if not engine_json.exists():
                    engine_json.write_text(json.dumps({"engine": engine, "info": msg[1], "load_s": msg[2], "error": None}, indent=2))
                timeout = opts.timeout_s
                on_event(engine, "status:reading", 0)
            elif msg[0] == "load_error":
                engine_json.write_text(json.dumps({"engine": engine, "info": None, "load_s": None, "error": msg[1]}, indent=2))
                on_event(engine, f"status:failed to load: {msg[1]}", 0)
                pending = []
                break
            elif msg[0] == "result":
                _, file, reading, ms, error = msg
                writer.write(engine, file, reading, ms, error)
                pending = pending[1:]
                failures = 0
                on_event(engine, "advance", 1)
            elif msg[0] == "done":
                break
        proc.kill()
        proc.join()
        parent.close()
        if problem and pending:
            failures += 1
            writer.write(engine, pending[0][0], None, None, problem)
            on_event(engine, "advance", 1)
            pending = pending[1:]
            if failures >= MAX_CONSECUTIVE_FAILURES:
                for file, _ in pending:
                    writer.write(engine, file, None, None, f"not run: {engine} failed {failures} times in a row ({problem})")
                on_event(engine, "advance", len(pending))
                pending = []


def run(dataset: Dataset, opts: RunOptions, run_dir: Path, resume: bool = False,
        on_event: OnEvent = lambda *_: None) -> Path:
    """Run every engine of ``opts`` over ``dataset`` into ``run_dir``; returns ``run_dir``."""
    items = dataset.items[: opts.limit] if opts.limit else dataset.items
    fp = fingerprint(dataset.root)
    run_json = run_dir / "run.json"
    if run_json.exists() and not resume:
        raise RunError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    if resume and run_json.exists():
        previous = json.loads(run_json.read_text())
        if previous["dataset"]["fingerprint"] != fp:
            raise RunError(f"cannot resume {run_dir}: it was made from another version of the dataset")
    manifest = dict(dataset.manifest)
    if opts.readout:
        manifest["readout"] = opts.readout
    (run_dir / "predictions").mkdir(parents=True, exist_ok=True)
    (run_dir / "engines").mkdir(exist_ok=True)
    info = {
        "command": opts.command,
        "dataset": {"name": dataset.name, "path": str(dataset.root), "fingerprint": fp,
                    "n": len(items), "problems": dataset.problems},
        "manifest": manifest,
        "engines": list(opts.engines),
        "options": {"device": opts.device, "limit": opts.limit, "timeout_s": opts.timeout_s, **opts.extra},
        "machine": machine(),
        "code_version": code_version(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    run_json.write_text(json.dumps(info, indent=2, ensure_ascii=False))
    for engine in opts.engines:
        pred_path = run_dir / "predictions" / f"{engine}.jsonl"
        done = _read_done(pred_path)
        engine_json = run_dir / "engines" / f"{engine}.json"
        if engine_json.exists() and json.loads(engine_json.read_text())["error"]:
            engine_json.unlink()  # a failed load is retried on resume
        jobs = [(it.file, str(dataset.images_dir / it.file)) for it in items if it.file not in done]
        on_event(engine, "total", len(items))
        on_event(engine, "advance", len(items) - len(jobs))
        if not jobs:
            continue
        writer = _Writer(pred_path, dataset, manifest)
        try:
            _run_engine(engine, jobs, opts, run_dir, writer, on_event)
        finally:
            writer.close()
    return run_dir
