"""Engines as Ray actors: ``bench run --cluster local|auto|ray://HOST:PORT``.

Why Ray: a set of 50,000 images read by four engines is a day on one machine; Ray (core API only:
actors and object refs) spreads each engine over ``--workers`` actors anywhere on a cluster, with
the resources each needs (``--engine-resources two-stage=cpu:1,gpu:0.25``). Only the workers move:
this process (the driver) reads each image's bytes and sends them, so no node needs the dataset
(``--shared-images``: actors read the dataset's path, which every node must then see); results come
back as they finish and the driver writes them with the runner's own code (:mod:`bench.runner`:
run folder, turns, resume), so report, gate and ``--resume`` see a run like any other.

Faults: an actor that dies (or a node that goes) loses no result already returned; the chunk it
was reading is sent once more to another actor (a new one replaces it), and recorded as errors if
that fails too; the chunks queued behind it, never started, are sent again as they were. An answer
that does not come within ``--timeout`` per image (counted from its sending, or from the answer to
the chunk ahead of it in the actor) is a lost actor: killed, never waited on. A killed driver
takes its actors with it; ``--resume`` continues the run.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.datasets import Dataset
from bench.runner import EnginePool, OnEvent, RunError, RunOptions, errors
from bench.runner import run as run_local
from bench.worker import EngineHost, Job, Result

EXTRA = "pip install 'ocr2stage-bench[ray]'"
CLUSTERS = ("local", "auto", "ray://HOST:PORT")
RETRIES = 1
"""Times the images of a lost actor are sent to another actor before they are recorded as errors."""
IN_FLIGHT = 2
"""Calls kept in flight per actor. With one, every image waited for the previous one's result to
come back and its own bytes to go out (measured idle: about 3 ms per image over the local runner,
14% of Tesseract's engine time); with two, the next chunk is already queued in the actor while it
reads the current one. More would only hold more images on an actor that may be lost, and leave
one actor with several chunks still to read at the end of a turn while another waits."""
SLOW_START = {"RAY_agent_register_timeout_ms": "300000", "RAY_worker_register_timeout_seconds": "300"}
"""For ``--cluster local``, unless set: Ray's raylet aborts when its agent takes over 30 s to start
(and drops a worker process after 60 s), which a machine busy with other work reaches."""


class ClusterError(RunError):
    """The cluster cannot be used as asked (no ray, a bad address or resource spec)."""


@dataclass(frozen=True)
class ClusterSpec:
    """Where and how the engines run as actors; checked before any work (:func:`cluster_spec`)."""

    address: str
    """``local`` (a Ray instance started for the run), ``auto`` or ``ray://HOST:PORT``."""
    resources: dict[str, dict[str, float]] = field(default_factory=dict)
    """Engine -> resources of each of its actors (``cpu``, ``gpu``, any custom resource)."""
    shared_images: bool = False


def require_ray() -> Any:
    """The ray module, or a ClusterError naming the extra that installs it."""
    try:
        import ray
    except ImportError as e:
        raise ClusterError(f"--cluster needs Ray, which is not installed: {EXTRA} (or bash scripts/setup.sh)") from e
    return ray


def parse_resources(specs: list[str], engines: list[str]) -> dict[str, dict[str, float]]:
    """``ENGINE=cpu:1,gpu:0.25`` (one per engine, repeatable) -> ``{engine: {"cpu": 1.0, ...}}``."""
    out: dict[str, dict[str, float]] = {}
    for spec in specs:
        engine, sep, rest = spec.partition("=")
        if not sep or engine.strip() not in engines:
            raise ClusterError(
                f"--engine-resources {spec!r}: expected ENGINE=cpu:1,gpu:0.25 with ENGINE one of {', '.join(engines)}"
            )
        res: dict[str, float] = {}
        for part in rest.split(","):
            name, sep, amount = part.partition(":")
            try:
                value = float(amount)
            except ValueError:
                value = -1.0
            if not sep or not name.strip() or not value >= 0:
                raise ClusterError(f"--engine-resources {spec!r}: {part!r} is not RESOURCE:AMOUNT (e.g. gpu:0.25)")
            res[name.strip().lower()] = value
        out[engine.strip()] = res
    return out


def cluster_spec(address: str, engines: list[str], resources: list[str], shared_images: bool) -> ClusterSpec:
    """Check the cluster options and that ray is installed; connects to nothing yet."""
    if address not in ("local", "auto") and not re.fullmatch(r"ray://[^:/\s]+:\d+", address):
        raise ClusterError(f"--cluster {address!r}: use one of {', '.join(CLUSTERS)}")
    spec = ClusterSpec(address, parse_resources(resources, engines), shared_images)
    require_ray()
    return spec


class _Actor:
    """One engine in a Ray actor (made remote by :func:`_actor_class`). Loaded by :meth:`load`, not
    in the constructor, so a load failure is an answer rather than a dead actor."""

    def __init__(self, engine: str, device: str, options: dict[str, str], threads: int | None):
        self.args = engine, device, options, threads
        self.host: EngineHost | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-actor-"))

    def load(self) -> tuple:
        try:
            self.host = EngineHost(*self.args)
            return "loaded", self.host.info, self.host.load_s
        except Exception as e:  # noqa: BLE001 - any load failure is recorded, never raised
            return "load_error", f"{type(e).__name__}: {e}"

    def read(self, jobs: list[tuple[str, str, bytes | None]]) -> list[Result]:
        """``(file, path, data)``: the image's bytes as the driver sent them, written to this actor's
        own folder and decoded by the same checked loader as a local run; without bytes, ``path``."""
        assert self.host is not None
        local: list[Job] = []
        for k, (file, path, data) in enumerate(jobs):
            if data is not None:  # one folder per job: two files of a batch may share a name
                (self.tmp / str(k)).mkdir(exist_ok=True)
                path = str(self.tmp / str(k) / Path(file).name)
                Path(path).write_bytes(data)
            local.append((file, path))
        try:
            return self.host.read(local)
        finally:
            for (_, _, data), (_, path) in zip(jobs, local):
                if data is not None:
                    Path(path).unlink(missing_ok=True)


def _actor_class(ray: Any) -> Any:
    return ray.remote(max_restarts=0, max_task_retries=0)(_Actor)


@dataclass
class _Call:
    """A chunk sent to an actor: its answer (``ref``), and how many times it was sent before."""

    ref: Any
    chunk: list[Job]
    tries: int


@dataclass
class _Slot:
    """One actor of the pool, with its calls in the order it reads them (at most :data:`IN_FLIGHT`):
    the first is being read, the others wait in the actor behind it."""

    handle: Any = None
    calls: deque[_Call] = field(default_factory=deque)
    deadline: float = 0.0
    """When the first call's answer is late: counted from when it reached the head of the line."""
    problem: str | None = None


class RayPool(EnginePool):
    """``opts.workers`` Ray actors of one engine, each with up to :data:`IN_FLIGHT` chunks at a time."""

    def __init__(self, engine: str, opts: RunOptions, run_dir: Path, on_event: OnEvent, spec: ClusterSpec):
        super().__init__(engine, opts, run_dir, on_event)
        self.ray = require_ray()
        res = dict(spec.resources.get(engine, {}))
        cpus, gpus = res.pop("cpu", 1.0), res.pop("gpu", 0.0)
        self.actor_options = {"num_cpus": cpus, "num_gpus": gpus, "resources": res}
        self.threads = max(1, round(cpus))
        self.shared_images = spec.shared_images
        self.slots = [_Slot() for _ in range(opts.workers)]
        self.run_id = uuid.uuid4().hex[:8]

    def _start(self, slot: _Slot, k: int) -> None:
        """A new actor in ``slot``, waited for until its engine is loaded (or ``load_timeout``)."""
        ray = self.ray
        name = f"bench-{self.run_id}-{self.engine}-{k}-{time.monotonic_ns()}"
        actor = _actor_class(ray).options(**self.actor_options, name=name)
        slot.handle = actor.remote(self.target, self.opts.device, self.options, self.threads)
        self.on_event(self.engine, "status:loading", 0)
        try:
            msg = ray.get(slot.handle.load.remote(), timeout=self.opts.load_timeout_s)
        except ray.exceptions.GetTimeoutError:
            msg = f"timeout: {self.engine} actor did not load within {self.opts.load_timeout_s:.0f}s"
        except ray.exceptions.RayError as e:
            msg = f"{self.engine} actor died while loading ({type(e).__name__})"
        if isinstance(msg, str) or msg[0] == "load_error":
            self._drop(slot)
            problem = msg if isinstance(msg, str) else msg[1]
            if self.loaded or isinstance(msg, str):
                slot.problem = problem
            else:
                self.record_load_error(problem)
            return
        self.record_load(msg[1], msg[2])
        self.on_event(self.engine, "status:reading", 0)

    def _drop(self, slot: _Slot) -> None:
        if slot.handle is not None:
            with suppress(self.ray.exceptions.RayError, ValueError):  # already gone
                self.ray.kill(slot.handle, no_restart=True)
        slot.handle = None

    def load(self) -> None:
        for k, slot in enumerate(self.slots):
            if not self.load_failed:
                self._start(slot, k)

    def _send(self, slot: _Slot, chunk: list[Job], tries: int) -> None:
        sent = [(f, p, None if self.shared_images or not Path(p).is_file() else Path(p).read_bytes()) for f, p in chunk]
        slot.calls.append(_Call(slot.handle.read.remote(sent), chunk, tries))
        if len(slot.calls) == 1:
            self._next_deadline(slot)

    def _next_deadline(self, slot: _Slot) -> None:
        """The first call's deadline: ``--timeout`` per image from now, when the actor starts it (a
        chunk queued behind another is not late for the time that one took)."""
        slot.deadline = time.monotonic() + self.opts.timeout_s * len(slot.calls[0].chunk)

    def _read(self, jobs: list[Job]) -> Iterator[Result]:
        queue: deque[tuple[list[Job], int]] = deque((c, 0) for c in self.chunks(jobs))
        while queue or any(s.calls for s in self.slots):
            for depth in range(IN_FLIGHT):  # one chunk to every actor before a second to any
                for k, slot in enumerate(self.slots):
                    while queue and len(slot.calls) <= depth and not self.load_failed:
                        chunk, tries = queue.popleft()
                        if not self.given_up and slot.handle is None and slot.problem is None:
                            self._start(slot, k)
                        if self.load_failed:
                            return
                        problem, slot.problem = self.given_up or slot.problem, None
                        if problem is None:
                            self._send(slot, chunk, tries)
                        elif tries < RETRIES and not self.given_up:
                            queue.appendleft((chunk, tries + 1))
                        else:
                            if not self.given_up:
                                self.failed(problem)
                            yield from errors(chunk, problem)
            if self.load_failed:
                return
            yield from self._collect(queue)

    def _collect(self, queue: deque[tuple[list[Job], int]]) -> Iterator[Result]:
        """Wait for the first answer (or deadline) of any actor; yield it, or requeue a lost actor's
        chunks: the one it was reading once more, those waiting behind it (never started) as they were."""
        ray = self.ray
        busy = [s for s in self.slots if s.calls]
        if not busy:
            return
        timeout = max(0.0, min(s.deadline for s in busy) - time.monotonic())
        ready, _ = ray.wait([s.calls[0].ref for s in busy], num_returns=1, timeout=timeout)
        for slot in busy:
            call = slot.calls[0]
            if call.ref in ready:
                try:
                    results = ray.get(call.ref)
                    problem = None
                except ray.exceptions.RayError as e:
                    results, problem = None, f"{self.engine} actor lost ({type(e).__name__})"
            elif time.monotonic() >= slot.deadline:
                results = None
                problem = f"timeout: no answer from {self.engine} within {self.opts.timeout_s * len(call.chunk):.0f}s"
            else:
                continue
            if results is not None:
                slot.calls.popleft()
                if slot.calls:
                    self._next_deadline(slot)
                self.succeeded()
                self.images += len(call.chunk)
                yield from results
                continue
            assert problem is not None
            waiting = [(c.chunk, c.tries) for c in list(slot.calls)[1:]]
            slot.calls.clear()
            self._drop(slot)
            if call.tries < RETRIES:  # on another actor: the next free slot, or this one's replacement
                waiting.insert(0, (call.chunk, call.tries + 1))
            else:
                self.failed(problem)
                yield from errors(call.chunk, f"{problem}; also lost on a retry" if call.tries else problem)
            self.resent += sum(len(chunk) for chunk, _ in waiting)
            queue.extendleft(reversed(waiting))

    def stop(self) -> None:
        for slot in self.slots:
            self._drop(slot)


def run(
    dataset: Dataset,
    opts: RunOptions,
    run_dir: Path,
    spec: ClusterSpec,
    resume: bool = False,
    on_event: OnEvent = lambda *_: None,
    retry_errors: bool = True,
) -> Path:
    """:func:`bench.runner.run` with every engine as Ray actors on the cluster of ``spec``; connects
    (or starts a local Ray for ``local``) first, so a cluster that cannot be reached fails before
    the run folder is touched, and disconnects at the end when it connected."""
    ray = require_ray()
    connected = False
    if not ray.is_initialized():
        try:
            if spec.address == "local":
                for name, value in SLOW_START.items():  # the Ray started here inherits them
                    os.environ.setdefault(name, value)
                # "local": always a new Ray; without it, ray.init() joins the last cluster `ray start`
                # recorded in /tmp/ray/ray_current_cluster (someone else's, or one gone)
                ray.init(address="local", include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=spec.address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.AuthenticationError) as e:
            raise ClusterError(
                f"cannot reach the Ray cluster {spec.address!r}: {e} (a cluster with token "
                "authentication needs RAY_AUTH_MODE=token here and its token in ~/.ray/auth_token, "
                "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH; docs/scaling.md)"
            ) from e
        connected = True
    try:
        return run_local(
            dataset, opts, run_dir, resume, on_event, retry_errors, pool=lambda e, o, d, ev: RayPool(e, o, d, ev, spec)
        )
    finally:
        if connected:
            ray.shutdown()
