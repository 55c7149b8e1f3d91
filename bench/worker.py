"""The engine side of the runner: one loaded engine reading jobs, hosted in its own process (the
local runner) or in a Ray actor (:mod:`bench.cluster`), so a crash or a hang of one engine costs
only the images it was on.

Over a duplex Pipe the worker process first sends ``("loaded", info, load_s)`` or
``("load_error", message)``; then it answers each ``("read", jobs)`` with ``("results", results)``,
until the pipe closes. A job is ``(file, path)``; a result is ``(file, reading, latency_ms, error)``,
one per job, in the jobs' order. Timing happens here, around ``engine.read`` only (not image
decoding), after one untimed warm-up read, and only when the jobs come one at a time: a batch read
(throughput mode, ``bench run --batch``) gives no per-image latency, so ``latency_ms`` is None.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from bench.datasets import ImageError, load_image
from bench.engines import engine_class

Job = tuple[str, str]
"""``(file, path)``: the image's name in the dataset and where the worker reads it."""
Result = tuple[str, "dict[str, Any] | None", "float | None", "str | None"]
"""``(file, reading as a dict, latency in ms or None, error or None)``."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(threads: int | None) -> None:
    """Give this process ``threads`` compute threads, before the engine is imported.

    Why: N workers of one engine on one machine each default to a thread per core, so N x cores
    threads fight for the cores; the cores are divided between them instead. The variables are read
    when torch, OpenMP (Tesseract) and the BLAS libraries load, which happens in the engine's
    constructor; torch is also told directly in case something imported it already. PaddleOCR's
    adapter sets its own ``cpu_threads``, which this does not change."""
    if threads is None:
        return
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _error_text(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)[-1]
    return f"{type(e).__name__}: {e} ({tb.filename}:{tb.lineno})"


class EngineHost:
    """One engine loaded and reading jobs; where it runs (process, actor) is the caller's business."""

    def __init__(self, engine: str, device: str, options: dict[str, str], threads: int | None = None):
        limit_threads(threads)
        t0 = time.perf_counter()
        self.engine = engine_class(engine)(device=device, **options)
        self.load_s = time.perf_counter() - t0
        limit_threads(threads)  # torch is imported by now: tell it too
        self.info: dict[str, Any] = self.engine.describe().to_dict()
        self._warmed = False

    def read(self, jobs: list[Job]) -> list[Result]:
        """One result per job, in order; an image that cannot be decoded or read is an error on
        that image alone. One job is timed; several are read as one batch and not timed."""
        images: dict[str, np.ndarray] = {}
        results: dict[str, Result] = {}
        for file, path in jobs:
            try:
                images[file] = load_image(Path(path))
            except ImageError as e:
                results[file] = (file, None, None, str(e))
        if len(jobs) == 1 and images:
            ((file, img),) = images.items()
            results[file] = self._timed(file, img)
        elif images:
            results.update(self._batch(images))
        return [results[file] for file, _ in jobs]

    def _timed(self, file: str, img: np.ndarray) -> Result:
        try:
            if not self._warmed:
                self.engine.read([img])
                self._warmed = True
            t0 = time.perf_counter()
            (reading,) = self.engine.read([img])
            return file, reading.to_dict(), (time.perf_counter() - t0) * 1000.0, None
        except Exception as e:  # noqa: BLE001 - one image's failure must not end the engine
            return file, None, None, _error_text(e)

    def _batch(self, images: dict[str, np.ndarray]) -> dict[str, Result]:
        """The images read in one call; when that call fails, each is read alone, so the failure
        lands on the image that causes it instead of on its whole batch."""
        try:
            readings = self.engine.read(list(images.values()))
            return {f: (f, r.to_dict(), None, None) for f, r in zip(images, readings, strict=True)}
        except Exception:  # noqa: BLE001 - isolated below, image by image
            out: dict[str, Result] = {}
            for f, img in images.items():
                try:
                    (reading,) = self.engine.read([img])
                    out[f] = (f, reading.to_dict(), None, None)
                except Exception as e:  # noqa: BLE001
                    out[f] = (f, None, None, _error_text(e))
            return out


def _redirect_output(log: Path) -> None:
    """Send the engine's own prints and warnings (file descriptors 1 and 2) to its log file."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def serve(
    engine: str, device: str, options: dict[str, str], conn: Connection, log: Path, threads: int | None = None
) -> None:
    """The worker process: load the engine, then answer read requests until the pipe closes."""
    _redirect_output(log)
    try:
        host = EngineHost(engine, device, options, threads)
        conn.send(("loaded", host.info, host.load_s))
    except Exception as e:  # noqa: BLE001 - any load failure is recorded, never raised
        conn.send(("load_error", f"{type(e).__name__}: {e}"))
        return
    while True:
        try:
            _, jobs = conn.recv()
        except (EOFError, OSError):  # the parent is done (or gone: ConnectionResetError)
            return
        conn.send(("results", host.read(jobs)))
