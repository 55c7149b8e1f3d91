"""The engine side of the runner: runs in its own process, one engine, so a crash or a hang of
one engine costs only the image it was on.

Over a duplex Pipe the worker first sends ``("loaded", info, load_s)`` or ``("load_error", message)``;
then it answers each ``("read", file, path)`` with ``("result", file, reading, latency_ms, error)``,
until the pipe closes. One image at a time, so the parent can take turns between
engines. Timing happens here, around ``engine.read`` only (not image decoding), after one untimed
warm-up read.
"""

from __future__ import annotations

import os
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from bench.datasets import ImageError, load_image
from bench.engines import engine_class


def _redirect_output(log: Path) -> None:
    """Send the engine's own prints and warnings (file descriptors 1 and 2) to its log file."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def serve(engine: str, device: str, options: dict[str, str], conn: Connection, log: Path) -> None:
    _redirect_output(log)
    try:
        t0 = time.perf_counter()
        eng = engine_class(engine)(device=device, **options)
        load_s = time.perf_counter() - t0
        conn.send(("loaded", eng.describe().to_dict(), load_s))
    except Exception as e:  # noqa: BLE001 - any load failure is recorded, never raised
        conn.send(("load_error", f"{type(e).__name__}: {e}"))
        return
    warmed = False
    while True:
        try:
            _, file, path = conn.recv()
        except (EOFError, OSError):  # the parent is done (or gone: ConnectionResetError)
            return
        try:
            img = load_image(path)
        except ImageError as e:
            conn.send(("result", file, None, None, str(e)))
            continue
        try:
            if not warmed:
                eng.read([img])
                warmed = True
            t0 = time.perf_counter()
            (reading,) = eng.read([img])
            ms = (time.perf_counter() - t0) * 1000.0
            conn.send(("result", file, reading.to_dict(), ms, None))
        except Exception as e:  # noqa: BLE001 - one image's failure must not end the engine
            tb = traceback.extract_tb(e.__traceback__)[-1]
            conn.send(("result", file, None, None, f"{type(e).__name__}: {e} ({tb.filename}:{tb.lineno})"))
