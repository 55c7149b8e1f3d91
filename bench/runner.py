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
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from bench import __version__
from bench.datasets import Dataset, Item, fingerprint
from bench.engines.base import Reading
from bench.readout import normalize, read_out, scoring_key, unicode_form
from bench.worker import THREAD_VARIABLES, Job, Result, serve

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
    workers: int = 1
    """Worker processes (or Ray actors) per engine; the images of each turn are spread over them."""
    batch: int | None = None
    """Throughput mode: images per ``engine.read`` call. Per-image latency is then not measured."""
    cluster: str | None = None
    """Where the workers run: None on this machine, else the Ray cluster (:mod:`bench.cluster`)."""

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
                raise RunError(
                    f"{name.removesuffix('_s')} must be a positive number of seconds, not {getattr(self, name)}"
                )
        if self.limit is not None and self.limit < 1:
            raise RunError(f"limit must be at least 1, not {self.limit}")
        if self.workers < 1:
            raise RunError(f"workers must be at least 1, not {self.workers}")
        if self.batch is not None and self.batch < 1:
            raise RunError(f"batch must be at least 1, not {self.batch}")

    def scaling(self) -> dict[str, Any]:
        """What run.json says about how the images were spread and timed (see :func:`latency_note`)."""
        return {"workers": self.workers, "batch": self.batch, "cluster": self.cluster, "latency": latency_note(self)}


def latency_note(opts: RunOptions) -> str:
    """What a run's milliseconds mean, recorded in run.json (so in summary.json and the report's
    run record) so that nobody compares milliseconds that are not comparable."""
    if opts.batch is not None:
        return (
            f"not measured: throughput mode (--batch {opts.batch}), images read in batches; "
            "latency_ms is empty, compare images/s (engines/<engine>.json throughput)"
        )
    if opts.workers > 1:
        return (
            f"per image, with {opts.workers} workers per engine reading at once: latency under "
            "contention, comparable only with runs of the same --workers on the same machine"
        )
    return "per image, one image at a time, after one warm-up read"


OnEvent = Callable[[str, str, int], None]
"""Progress callback: (engine, event, count) with event "total", "advance" or "status:<text>"."""


def machine(workers: int = 1) -> dict[str, Any]:
    """The machine a run's numbers come from: CPU, its instruction sets that decide the two-stage
    reader's backend (``isa``: avx2, avx512, bf16, vnni, amx) and the compute threads each engine
    process gets (``threads``: torch's, the thread variables, and per worker with ``workers`` > 1,
    as :class:`LocalPool` divides the cores)."""
    threads: dict[str, Any] = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    try:
        import torch

        cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        threads |= {"torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads()}
    except ImportError:
        cuda = None
    if workers > 1:
        threads["per_worker"] = max(1, (os.cpu_count() or 1) // workers)
    cpu = platform.processor()
    try:
        cpu = next(
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    try:
        from ocr2stage.device import cpu_isa

        isa: dict[str, bool] | None = cpu_isa()
    except ImportError:
        isa = None
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "gpu": cuda,
        "isa": isa,
        "threads": threads,
    }


def code_version() -> str:
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
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
    return datetime.now(UTC).isoformat(timespec="seconds")


def _refuse_another_run(
    previous: dict[str, Any], fp: str, manifest: dict[str, Any], opts: RunOptions, run_dir: Path
) -> None:
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
        "batch": (options.get("batch"), opts.batch),
    }
    for what, (before, now) in before_now.items():
        if before != now:
            raise RunError(
                f"cannot resume {run_dir}: it was run with {what} {before}, not {now}; "
                f"resume with the same settings, or start another run (--out)"
            )


class _Writer:
    """Appends one engine's result lines, flushed and fsynced one by one."""

    def __init__(self, path: Path, dataset: Dataset, manifest: dict[str, Any]):
        self.path = path
        self._f = path.open("a", encoding="utf-8")
        self._items = {it.file: it for it in dataset.items}
        self._manifest = manifest

    def write(self, engine: str, file: str, reading: dict | None, ms: float | None, error: str | None) -> None:
        item = self._items[file]
        pred = "" if reading is None else read_out(Reading.from_dict(reading), self._manifest)
        rec = {
            "engine": engine,
            "file": file,
            "truth": normalize(item.text, self._manifest),
            "prediction": pred,
            "reading": reading,
            "latency_ms": ms,
            "error": error,
            "meta": item.meta,
            "truth_chars": item.chars,
        }
        self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def put_in_order(self, order: list[str]) -> None:
        """Rewrite the file with its lines in ``order`` (the dataset's), once the run is done.

        Why afterwards: lines are appended as results come, which with several workers (or a resume
        that read errors again) is not the dataset's order; results.* follow the file. The rewrite
        goes to a new file that replaces the old one, so a kill during it loses nothing."""
        rank = {f: i for i, f in enumerate(order)}
        lines = self.path.read_text(encoding="utf-8").splitlines()
        keys = []
        for ln in lines:
            try:
                keys.append(rank.get(json.loads(ln)["file"], len(rank)))
            except (json.JSONDecodeError, KeyError, TypeError):
                keys.append(len(rank))
        if keys == sorted(keys):
            return
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(ln + "\n" for _, ln in sorted(zip(keys, lines), key=lambda kl: kl[0])), encoding="utf-8")
        os.replace(tmp, self.path)


class EnginePool:
    """Everything that reads for one engine: its workers (processes here, Ray actors in
    :mod:`bench.cluster`) and the bookkeeping both share: the load record in
    ``engines/<engine>.json``, consecutive failures and giving up.

    A pool is told :meth:`load` once, then :meth:`read` jobs (any number of times, one turn each),
    yielding each result as it comes, and :meth:`stop` at the end. A result is only ever yielded
    once per job; an engine that failed to load yields nothing (its error is in its json)."""

    def __init__(self, engine: str, opts: RunOptions, run_dir: Path, on_event: OnEvent):
        self.engine, self.opts, self.on_event = engine, opts, on_event
        self.log = run_dir / "engines" / f"{engine}.log"
        self.engine_json = run_dir / "engines" / f"{engine}.json"
        self.target = opts.aliases.get(engine, engine)
        """The engine that runs (an alias reads with another engine's class)."""
        self.options = opts.engine_options.get(engine, {})
        self.failures = 0
        self.loaded = False
        self.load_failed = False
        self.given_up: str | None = None
        """Why the engine is no longer asked (set after too many failures in a row)."""
        self.images = 0
        self.read_s = 0.0
        self.resent = 0
        """Images sent to another worker after theirs was lost (Ray actors, :mod:`bench.cluster`)."""

    def read(self, jobs: list[Job]) -> Iterator[Result]:
        """Each job's result as it comes (the subclass's ``_read``), its reading time counted."""
        started = time.perf_counter()
        try:
            yield from self._read(jobs)
        finally:
            self.read_s += time.perf_counter() - started

    def _read(self, jobs: list[Job]) -> Iterator[Result]:
        raise NotImplementedError

    def chunks(self, jobs: list[Job]) -> list[list[Job]]:
        """The jobs as the engine is asked them: one by one (timed), or batches of ``--batch``."""
        size = self.opts.batch or 1
        return [jobs[i : i + size] for i in range(0, len(jobs), size)]

    def record_load(self, info: dict[str, Any], load_s: float) -> None:
        """Write ``engines/<engine>.json`` at the first load. A later load (another worker, a restart,
        or the next item subset read with other weights under an alias) adds the weight files it
        read, so the record names every file behind the engine's results; the first load time stays."""
        self.loaded = True
        if self.target != self.engine:  # the engine's own label, marked with the name it runs under
            info = {**info, "name": self.engine, "label": f"{self.engine} ({info.get('label') or self.target})"}
        if self.engine_json.exists():
            record = json.loads(self.engine_json.read_text())
            weights = record["info"].setdefault("weights", {})
            if set(info.get("weights", {}).items()) <= set(weights.items()):
                return
            weights.update(info.get("weights", {}))
        else:
            record = {"engine": self.engine, "info": info, "load_s": load_s, "error": None}
        self.engine_json.write_text(json.dumps(record, indent=2))

    def record_load_error(self, error: str) -> None:
        """The engine cannot load: recorded in its json (its column says so), nothing read."""
        record = {"engine": self.engine, "info": None, "load_s": None, "error": error}
        self.engine_json.write_text(json.dumps(record, indent=2))
        self.on_event(self.engine, f"status:failed to load: {error}", 0)
        self.load_failed = True

    def record_throughput(self) -> None:
        """Images read and the wall time spent reading them in this session (turns of other engines
        not counted), in ``engines/<engine>.json``: the throughput of ``--workers``/``--batch``."""
        if not self.engine_json.exists() or not self.images:
            return
        record = json.loads(self.engine_json.read_text())
        record["throughput"] = {
            "images": self.images,
            "read_s": round(self.read_s, 3),
            "images_per_s": round(self.images / self.read_s, 3) if self.read_s else None,
            "workers": self.opts.workers,
            "batch": self.opts.batch,
            **({"resent": self.resent} if self.resent else {}),
        }
        self.engine_json.write_text(json.dumps(record, indent=2))

    def failed(self, problem: str) -> None:
        """A job's worker crashed, hung or was lost; after too many in a row the engine is given up."""
        self.failures += 1
        if self.failures >= MAX_CONSECUTIVE_FAILURES and not self.given_up:
            self.given_up = f"not run: {self.engine} failed {self.failures} times in a row ({problem})"

    def succeeded(self) -> None:
        self.failures = 0

    def load(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


PoolFactory = Callable[[str, RunOptions, Path, OnEvent], EnginePool]
"""Makes the pool of one engine: (engine, options, run folder, progress callback)."""


def errors(jobs: list[Job], problem: str) -> list[Result]:
    return [(file, None, None, problem) for file, _ in jobs]


class _Process:
    """One worker process of an engine, asked one chunk of jobs at a time; killed on a hang."""

    def __init__(self, pool: LocalPool, threads: int | None):
        self.pool, self.threads = pool, threads
        self.proc: Any = None
        self.conn: Any = None
        self.jobs: list[Job] = []
        self.deadline = 0.0
        self.problem: str | None = None
        """A load that hung or died: it costs the next job, as a crash while reading would."""

    def start(self) -> None:
        """Spawn the worker and wait until its engine is loaded."""
        pool = self.pool
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(
            target=serve, args=(pool.target, pool.opts.device, pool.options, child, pool.log, self.threads), daemon=True
        )
        self.proc.start()
        child.close()
        pool.on_event(pool.engine, "status:loading", 0)
        msg = self.answer(pool.opts.load_timeout_s)
        if isinstance(msg, str):
            self.stop()
            self.problem = msg
        elif msg[0] == "load_error":
            self.stop()
            if pool.loaded:  # another worker of the engine loaded: a problem of this one only
                self.problem = f"{pool.engine} failed to load in a restarted worker: {msg[1]}"
            else:
                pool.record_load_error(msg[1])
        else:
            pool.record_load(msg[1], msg[2])
            pool.on_event(pool.engine, "status:reading", 0)

    def answer(self, timeout: float) -> tuple | str:
        """The worker's next message, or what went wrong instead (timeout, process death)."""
        try:
            if not self.conn.poll(timeout):
                return f"timeout: no answer from {self.pool.engine} within {timeout:.0f}s"
            return self.conn.recv()
        except (EOFError, OSError):  # OSError: ConnectionResetError when it was killed while sending
            self.proc.join(5)
            return f"{self.pool.engine} process died (exit code {self.proc.exitcode})"

    def send(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.deadline = time.monotonic() + self.pool.opts.timeout_s * len(jobs)
        try:
            self.conn.send(("read", jobs))
        except OSError:  # died while it waited for its turn; answer() says how
            pass

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()
            self.conn.close()
        self.proc = None


class LocalPool(EnginePool):
    """``opts.workers`` worker processes of one engine on this machine, the machine's cores divided
    between them; each is restarted after a crash or a hang, lazily, when it is next given a job."""

    def __init__(self, engine: str, opts: RunOptions, run_dir: Path, on_event: OnEvent):
        super().__init__(engine, opts, run_dir, on_event)
        threads = max(1, (os.cpu_count() or 1) // opts.workers) if opts.workers > 1 else None
        self.procs = [_Process(self, threads) for _ in range(opts.workers)]

    def load(self) -> None:
        for p in self.procs:  # one after the other, so each load time is its own
            if not self.load_failed:
                p.start()

    def _read(self, jobs: list[Job]) -> Iterator[Result]:
        queue = deque(self.chunks(jobs))
        while queue or any(p.jobs for p in self.procs):
            for p in self.procs:
                while queue and not p.jobs and not self.load_failed:
                    chunk = queue.popleft()
                    if not self.given_up and p.proc is None and p.problem is None:
                        p.start()
                    if self.load_failed:
                        return
                    problem, p.problem = self.given_up or p.problem, None
                    if problem is None:
                        p.send(chunk)
                        continue
                    if not self.given_up:
                        self.failed(problem)
                    yield from errors(chunk, problem)
            if self.load_failed:
                return
            yield from self._collect([p for p in self.procs if p.jobs])

    def _collect(self, busy: list[_Process]) -> Iterator[Result]:
        """Wait for the first answer (or the first deadline) among the busy workers; yield what came."""
        if not busy:
            return
        wait([p.conn for p in busy], timeout=max(0.0, min(p.deadline for p in busy) - time.monotonic()))
        for p in busy:
            if p.conn.poll(0) or not p.proc.is_alive():
                msg = p.answer(0)
            elif time.monotonic() >= p.deadline:
                msg = f"timeout: no answer from {self.engine} within {self.opts.timeout_s * len(p.jobs):.0f}s"
            else:
                continue
            jobs, p.jobs = p.jobs, []
            if isinstance(msg, str):
                p.stop()
                self.failed(msg)
                yield from errors(jobs, msg)
            else:
                self.succeeded()
                self.images += len(jobs)
                yield from msg[1]

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


TURN = 16
"""Images an engine reads in one turn before the next engine's turn (at least one chunk per worker)."""


def _take_turns(
    items: list[Item],
    dataset: Dataset,
    pools: dict[str, EnginePool],
    writers: dict[str, _Writer],
    todo: dict[str, set[str]],
    opts: RunOptions,
    on_event: OnEvent,
) -> None:
    """The engines read the images in turns of :data:`TURN` images each, in an order that rotates.

    Why turns: engines are timed side by side, under the same machine conditions. Run one after
    the other, a slowdown while one of them ran (another job, a throttled CPU) biased the latency
    ratio between them: the same reader measured 0.47x and 0.54x EasyOCR in two runs. Why not
    one image per turn: PaddlePaddle's OpenMP threads keep spinning ~200 ms after each read, which
    slowed whichever engine came next (150 ``serials`` images: every engine's p50 +15%). With
    several workers (or batches) a turn grows to give each worker at least one chunk.
    """
    names = list(pools)
    if not names:
        return
    turn = max(TURN, opts.workers * (opts.batch or 1))
    for k, start in enumerate(range(0, len(items), turn)):
        for e in names[k % len(names) :] + names[: k % len(names)]:
            jobs = [
                (it.file, str(dataset.images_dir / it.file)) for it in items[start : start + turn] if it.file in todo[e]
            ]
            if not jobs or pools[e].load_failed:
                continue
            for file, reading, ms, error in pools[e].read(jobs):
                writers[e].write(e, file, reading, ms, error)
                on_event(e, "advance", 1)


def run(
    dataset: Dataset,
    opts: RunOptions,
    run_dir: Path,
    resume: bool = False,
    on_event: OnEvent = lambda *_: None,
    retry_errors: bool = True,
    pool: PoolFactory | None = None,
) -> Path:
    """Run every engine of ``opts`` over ``dataset`` into ``run_dir``; returns ``run_dir``. On
    ``resume``, images with an error result are read again unless ``retry_errors`` is false.
    ``pool`` makes each engine's workers (default: local processes, :class:`LocalPool`)."""
    items, manifest = start_run(dataset, opts, run_dir, resume, retry_errors)
    read_items(dataset, items, manifest, opts, run_dir, on_event, pool)
    return run_dir


def start_run(
    dataset: Dataset, opts: RunOptions, run_dir: Path, resume: bool = False, retry_errors: bool = True
) -> tuple[list[Item], dict[str, Any]]:
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
        "dataset": {
            "name": dataset.name,
            "path": str(dataset.root),
            "folder": str(dataset.folder or dataset.root),
            "fingerprint": fp,
            "n": len(items),
            "problems": dataset.problems,
        },
        "manifest": manifest,
        "engines": list(opts.engines),
        "options": {
            "device": opts.device,
            "limit": opts.limit,
            "timeout_s": opts.timeout_s,
            "turn": TURN,
            "engine_options": opts.engine_options,
            **({"aliases": opts.aliases} if opts.aliases else {}),
            **opts.scaling(),
            **opts.extra,
        },
        "machine": machine(opts.workers),
        "code_version": code_version(),
        "started": previous["started"] if previous else _now(),
        **(
            {"resumed": [*previous.get("resumed", []), {"at": _now(), "errors_retried": retried, **opts.scaling()}]}
            if previous
            else {}
        ),
    }
    run_json.write_text(json.dumps(info, indent=2, ensure_ascii=False))
    return items, manifest


def read_items(
    dataset: Dataset,
    items: list[Item],
    manifest: dict[str, Any],
    opts: RunOptions,
    run_dir: Path,
    on_event: OnEvent = lambda *_: None,
    pool: PoolFactory | None = None,
) -> None:
    """Every engine of ``opts`` over those of ``items`` it has no result for yet, taking turns,
    appending to the run folder that :func:`start_run` prepared, by the workers ``pool`` makes
    (default :class:`LocalPool`); at the end each engine's lines are put in the dataset's order.
    Called once per subset of the images when each subset is read with other engine options (a
    cross-validation fold)."""
    pool = pool or LocalPool
    todo: dict[str, set[str]] = {}
    for engine in opts.engines:
        done = _read_done(run_dir / "predictions" / f"{engine}.jsonl")
        engine_json = run_dir / "engines" / f"{engine}.json"
        if engine_json.exists() and json.loads(engine_json.read_text())["error"]:
            engine_json.unlink()  # a failed load is retried on resume
        todo[engine] = {it.file for it in items if it.file not in done}
        on_event(engine, "total", len(items))
        on_event(engine, "advance", len(items) - len(todo[engine]))
    pools = {e: pool(e, opts, run_dir, on_event) for e in opts.engines if todo[e]}
    writers = {e: _Writer(run_dir / "predictions" / f"{e}.jsonl", dataset, manifest) for e in pools}
    try:
        for p in pools.values():  # loaded one after the other, so each load time is its own
            p.load()
        _take_turns(items, dataset, pools, writers, todo, opts, on_event)
    finally:
        for e, p in pools.items():
            p.stop()
            p.record_throughput()
            writers[e].close()
    order = [it.file for it in dataset.items]
    for e in pools:  # only after a whole read: a kill before this loses nothing, the lines are all there
        writers[e].put_in_order(order)
