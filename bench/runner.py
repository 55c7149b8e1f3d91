"""Drive engines over a dataset, one worker process per engine, writing results as they come.

Why a process per engine: an engine that segfaults, leaks or hangs must not take the other
engines' results with it. All engines are loaded at once and take turns over the images (see
:func:`_take_turns`). The parent is the only writer of the run folder; every result line is
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
from bench.datasets import Dataset, Item, fingerprint
from bench.engines.base import Reading
from bench.readout import normalize, read_out, scoring_key, unicode_form
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
    engine_options: dict[str, dict[str, str]] = field(default_factory=dict)
    """Keyword arguments per engine's constructor (e.g. another classifier for two-stage)."""
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    """Name in the run -> engine it runs, for one engine read under a second name with other options
    (``bench crossval``: ``two-stage-finetuned`` is ``two-stage`` with each fold's classifier)."""

    def __post_init__(self) -> None:
        """Refuse, before any work, options that would lose every image: a timeout of 0 times
        every image out and the engine is given up; an empty engine list runs nothing."""
        if not self.engines:
            raise RunError("no engine to run: the engine list is empty")
        twice = sorted({e for e in self.engines if self.engines.count(e) > 1})
        if twice:
            raise RunError(f"engine(s) named more than once: {', '.join(twice)}")
        for name in ("timeout_s", "load_timeout_s"):
            if not getattr(self, name) > 0:  # also refuses NaN
                raise RunError(f"{name.removesuffix('_s')} must be a positive number of seconds, not {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise RunError(f"limit must be at least 1, not {self.limit}")


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


def _read_done(path: Path, keep_errors: bool = True) -> dict[str, dict[str, Any]]:
    """Results already written for one engine; a torn last line (killed mid-write) is dropped, and
    so are results that are errors when ``keep_errors`` is false (they are read again)."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    good = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if keep_errors or rec.get("error") is None:
            done[rec["file"]] = rec
            good.append(line)
    path.write_text("".join(ln + "\n" for ln in good), encoding="utf-8")
    return done


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _refuse_another_run(previous: dict[str, Any], fp: str, manifest: dict[str, Any], opts: RunOptions,
                        run_dir: Path) -> None:
    """A resumed run must be the run it continues: results read with other engines, another
    scoring (readout, normalisation), other engine options, device or ``--limit`` would be mixed
    in one folder under a run.json that names only the last. Raises RunError naming what differs."""
    if previous["dataset"]["fingerprint"] != fp:
        raise RunError(f"cannot resume {run_dir}: it was made from another version of the dataset")
    options = previous["options"]
    before_now = {
        "engines": (previous["engines"], list(opts.engines)),
        "scoring": (scoring_key(previous["manifest"]), scoring_key(manifest)),
        "engine options": (options.get("engine_options", {}), opts.engine_options),
        "device": (options.get("device"), opts.device),
        "limit": (options.get("limit"), opts.limit),
    }
    for what, (before, now) in before_now.items():
        if before != now:
            raise RunError(f"cannot resume {run_dir}: it was run with {what} {before}, not {now}; "
                           f"resume with the same settings, or start another run (--out)")


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


class _Worker:
    """One engine's worker process, asked for one image at a time; restarted after a crash or a
    hang, given up after :data:`MAX_CONSECUTIVE_FAILURES` in a row or when the engine cannot load."""

    def __init__(self, engine: str, opts: RunOptions, run_dir: Path, writer: _Writer, on_event: OnEvent):
        self.engine, self.opts, self.writer, self.on_event = engine, opts, writer, on_event
        self.log = run_dir / "engines" / f"{engine}.log"
        self.engine_json = run_dir / "engines" / f"{engine}.json"
        self.proc: Any = None
        self.conn: Any = None
        self.failures = 0
        self.load_failed = False
        self.problem: str | None = None
        """A load that hung or died: it costs the next image, as a crash while reading would."""
        self.given_up: str | None = None
        """Why the engine is no longer asked (set after too many failures in a row)."""

    def start(self) -> None:
        """Spawn the worker and wait until its engine is loaded."""
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe(duplex=True)
        options = self.opts.engine_options.get(self.engine, {})
        target = self.opts.aliases.get(self.engine, self.engine)
        self.proc = ctx.Process(target=serve, args=(target, self.opts.device, options, child, self.log), daemon=True)
        self.proc.start()
        child.close()
        self.on_event(self.engine, "status:loading", 0)
        msg = self._answer(self.opts.load_timeout_s)
        if isinstance(msg, str):
            self.stop()
            self.problem = msg
        elif msg[0] == "load_error":
            self.engine_json.write_text(json.dumps({"engine": self.engine, "info": None, "load_s": None, "error": msg[1]}, indent=2))
            self.on_event(self.engine, f"status:failed to load: {msg[1]}", 0)
            self.load_failed = True
            self.stop()
        else:
            self._record_load(msg[1], msg[2])
            self.on_event(self.engine, "status:reading", 0)

    def _record_load(self, info: dict[str, Any], load_s: float) -> None:
        """Write ``engines/<engine>.json`` at the first load. A later load (a restart, or the next
        item subset read with other weights under an alias) adds the weight files it read, so the
        record names every file behind the engine's results; the first load time stays."""
        target = self.opts.aliases.get(self.engine, self.engine)
        if target != self.engine:  # the engine's own label, marked with the name it runs under
            info = {**info, "name": self.engine, "label": f"{self.engine} ({info.get('label') or target})"}
        if self.engine_json.exists():
            record = json.loads(self.engine_json.read_text())
            weights = record["info"].setdefault("weights", {})
            if set(info.get("weights", {}).items()) <= set(weights.items()):
                return
            weights.update(info.get("weights", {}))
        else:
            record = {"engine": self.engine, "info": info, "load_s": load_s, "error": None}
        self.engine_json.write_text(json.dumps(record, indent=2))

    def _answer(self, timeout: float) -> tuple | str:
        """The worker's next message, or what went wrong instead (timeout, process death)."""
        try:
            if not self.conn.poll(timeout):
                return f"timeout: no answer from {self.engine} within {timeout:.0f}s"
            return self.conn.recv()
        except (EOFError, OSError):  # OSError: ConnectionResetError when it was killed while sending
            self.proc.join(5)
            return f"{self.engine} process died (exit code {self.proc.exitcode})"

    def read(self, file: str, path: str) -> None:
        """Read one image and write its result line (or the problem that stopped it); nothing for
        an engine that failed to load, as its error is in its ``engines/*.json``."""
        if self.proc is None and self.problem is None and not self.given_up and not self.load_failed:
            self.start()
        if self.load_failed:
            return
        problem, self.problem = self.given_up or self.problem, None
        if problem is None:
            try:
                self.conn.send(("read", file, path))
            except OSError:  # died while it waited for its turn; _answer says how
                pass
            msg = self._answer(self.opts.timeout_s)
            if isinstance(msg, str):
                problem = msg
            else:
                _, file, reading, ms, error = msg
                self.writer.write(self.engine, file, reading, ms, error)
                self.failures = 0
        if problem is not None:
            self.writer.write(self.engine, file, None, None, problem)
            if not self.given_up:
                self.stop()
                self.failures += 1
                if self.failures >= MAX_CONSECUTIVE_FAILURES:
                    self.given_up = f"not run: {self.engine} failed {self.failures} times in a row ({problem})"
        self.on_event(self.engine, "advance", 1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()
            self.conn.close()
        self.proc = None


TURN = 16
"""Images an engine reads in one turn before the next engine's turn."""


def _take_turns(items: list[Item], dataset: Dataset, workers: dict[str, _Worker], todo: dict[str, set[str]]) -> None:
    """The engines read the images in turns of :data:`TURN` images each, in an order that rotates.

    Why turns: engines are timed side by side, under the same machine conditions. Run one after
    the other, a slowdown while one of them ran (another job, a throttled CPU) biased the latency
    ratio between them: the same reader measured 0.47x and 0.54x EasyOCR in two runs. Why not
    one image per turn: PaddlePaddle's OpenMP threads keep spinning ~200 ms after each read, which
    slowed whichever engine came next (150 ``serials`` images: every engine's p50 +15%).
    """
    names = list(workers)
    if not names:
        return
    for k, start in enumerate(range(0, len(items), TURN)):
        for e in names[k % len(names):] + names[: k % len(names)]:
            for it in items[start : start + TURN]:
                if it.file in todo[e]:
                    workers[e].read(it.file, str(dataset.images_dir / it.file))


def run(dataset: Dataset, opts: RunOptions, run_dir: Path, resume: bool = False,
        on_event: OnEvent = lambda *_: None, retry_errors: bool = True) -> Path:
    """Run every engine of ``opts`` over ``dataset`` into ``run_dir``; returns ``run_dir``. On
    ``resume``, images with an error result are read again unless ``retry_errors`` is false."""
    items, manifest = start_run(dataset, opts, run_dir, resume, retry_errors)
    read_items(dataset, items, manifest, opts, run_dir, on_event)
    return run_dir


def start_run(dataset: Dataset, opts: RunOptions, run_dir: Path, resume: bool = False,
              retry_errors: bool = True) -> tuple[list[Item], dict[str, Any]]:
    """Check the run folder and write ``run.json``; return the images to read and the manifest
    in force (the dataset's, with ``opts.readout``). Raises RunError, also when ``resume`` would
    mix another run's settings in (see :func:`_refuse_another_run`). On resume, results that are
    errors are dropped so that their images are read again, unless ``retry_errors`` is false."""
    items = dataset.items[: opts.limit] if opts.limit else dataset.items
    fp = fingerprint(dataset.root)
    run_json = run_dir / "run.json"
    if run_json.exists() and not resume:
        raise RunError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    manifest = dict(dataset.manifest)
    if opts.readout:
        manifest["readout"] = opts.readout
    manifest["normalize"] = {**manifest.get("normalize", {}), "unicode": unicode_form(manifest)}  # in the scoring key
    previous = json.loads(run_json.read_text()) if resume and run_json.exists() else None
    retried = 0
    if previous is not None:
        _refuse_another_run(previous, fp, manifest, opts, run_dir)
        if retry_errors:  # a timeout or a crash says nothing about the image: read it again
            for engine in opts.engines:
                path = run_dir / "predictions" / f"{engine}.jsonl"
                retried += len(_read_done(path)) - len(_read_done(path, keep_errors=False))
    (run_dir / "predictions").mkdir(parents=True, exist_ok=True)
    (run_dir / "engines").mkdir(exist_ok=True)
    info = {
        "command": opts.command,
        "dataset": {"name": dataset.name, "path": str(dataset.root), "folder": str(dataset.folder or dataset.root),
                    "fingerprint": fp,
                    "n": len(items), "problems": dataset.problems},
        "manifest": manifest,
        "engines": list(opts.engines),
        "options": {"device": opts.device, "limit": opts.limit, "timeout_s": opts.timeout_s, "turn": TURN,
                    "engine_options": opts.engine_options, **({"aliases": opts.aliases} if opts.aliases else {}),
                    **opts.extra},
        "machine": machine(),
        "code_version": code_version(),
        "started": previous["started"] if previous else _now(),
        **({"resumed": [*previous.get("resumed", []), {"at": _now(), "errors_retried": retried}]} if previous else {}),
    }
    run_json.write_text(json.dumps(info, indent=2, ensure_ascii=False))
    return items, manifest


def read_items(dataset: Dataset, items: list[Item], manifest: dict[str, Any], opts: RunOptions, run_dir: Path,
               on_event: OnEvent = lambda *_: None) -> None:
    """Every engine of ``opts`` over those of ``items`` it has no result for yet, taking turns,
    appending to the run folder that :func:`start_run` prepared. Called once per subset of the
    images when each subset is read with other engine options (a cross-validation fold)."""
    todo: dict[str, set[str]] = {}
    for engine in opts.engines:
        done = _read_done(run_dir / "predictions" / f"{engine}.jsonl")
        engine_json = run_dir / "engines" / f"{engine}.json"
        if engine_json.exists() and json.loads(engine_json.read_text())["error"]:
            engine_json.unlink()  # a failed load is retried on resume
        todo[engine] = {it.file for it in items if it.file not in done}
        on_event(engine, "total", len(items))
        on_event(engine, "advance", len(items) - len(todo[engine]))
    workers = {e: _Worker(e, opts, run_dir, _Writer(run_dir / "predictions" / f"{e}.jsonl", dataset, manifest), on_event)
               for e in opts.engines if todo[e]}
    try:
        for w in workers.values():  # loaded one after the other, so each load time is its own
            w.start()
        _take_turns(items, dataset, workers, todo)
    finally:
        for w in workers.values():
            w.stop()
            w.writer.close()
