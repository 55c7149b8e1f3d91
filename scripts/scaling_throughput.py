"""Throughput of `bench run --workers N` and the Ray path's scheduling overhead, in one session.

    nice -n 19 .venv/bin/python scripts/scaling_throughput.py [--n 120] [--engines tesseract,two-stage]
                                                               [--repeats 2] [--json out.json]

Reads the first N `serials` images with each engine four ways, the four alternating ``--repeats``
times (the order reversed every other time) so a change of the machine's load hits them alike:

- local, ``--workers 1`` and ``--workers 2`` (worker processes, as ``bench run``);
- Ray, 1 actor given all the cores (so it reads with the threads a local ``--workers 1`` worker
  has) and 2 actors with half each (as ``--workers 2``), on a local Ray started once for the
  session (2 CPUs on a 2-core machine; its start is not in any time).

Every number comes from the run folders the runs wrote: images/s from ``engines/<engine>.json``
``throughput`` (wall time of the reading turns, loads left out), engine time from the per-image
latencies the workers measured around ``engine.read``. What it prints (stderr; one JSON line per run
on stdout, ``--json`` for everything):

- ``--workers 2 / --workers 1`` images/s (the issue's target: >= 1.6x), and the engine time per
  image with 2 workers over 1: above 1 means the two reads slow each other (shared cores, caches,
  memory bandwidth or other load), and 2 / that ratio bounds what 2 workers can gain;
- the Ray path's scheduling overhead against the local runner: per image, the wall time that is not
  engine time (sending the image, decoding it, the call and its answer, writing the result, the one
  untimed warm-up read) on Ray with 1 actor minus the same on the local runner with 1 worker, as a
  share of the local engine time per image (target: under 5%). Subtracting each run's own engine
  time leaves out what the engine itself varies between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.cluster import SLOW_START, ClusterSpec, require_ray
from bench.cluster import run as run_on_ray
from bench.datasets import load_dataset
from bench.runner import RunOptions, run

CORES = os.cpu_count() or 1
SETTINGS = ("local w1", "local w2", "ray 1 actor", "ray 2 actors")


def measure(out: Path, engine: str) -> dict[str, float]:
    """images/s, wall ms per image, engine ms per image and their difference for one run folder."""
    tp = json.loads((out / "engines" / f"{engine}.json").read_text())["throughput"]
    recs = [json.loads(x) for x in (out / "predictions" / f"{engine}.jsonl").read_text().splitlines()]
    errors = sum(r["error"] is not None for r in recs)
    lat = [r["latency_ms"] for r in recs if r["latency_ms"] is not None]
    wall = 1000 * tp["read_s"] / tp["images"]
    engine_ms = statistics.mean(lat) if lat else float("nan")
    return {
        "images": tp["images"],
        "errors": errors,
        "images_per_s": tp["images_per_s"],
        "wall_ms_per_image": wall,
        "engine_ms_per_image": engine_ms,
        "other_ms_per_image": wall - engine_ms,
    }


def read_once(ds, engine: str, setting: str, n: int, out: Path) -> dict[str, float]:
    workers = 2 if setting.endswith(("w2", "2 actors")) else 1
    if setting.startswith("ray"):
        cpus = CORES / workers  # the actor's threads: as many as a local worker of that setting has
        opts = RunOptions(engines=(engine,), limit=n, workers=workers, cluster="local")
        run_on_ray(ds, opts, out, ClusterSpec("local", resources={engine: {"cpu": cpus}}))
    else:
        run(ds, RunOptions(engines=(engine,), limit=n, workers=workers), out)
    return measure(out, engine)


def spread(values: list[float], fmt: str) -> str:
    """The median, with the range when there is more than one value."""
    med, bare = format(statistics.median(values), fmt), fmt.lstrip("0123456789")  # the range without padding
    return med if len(values) < 2 else f"{med} ({format(min(values), bare)} to {format(max(values), bare)})"


def summarize(engine: str, runs: list[dict], say) -> dict:
    """The ratios of one engine, each computed within a repeat (the four ran back to back) and then
    taken as the median over repeats."""
    by = {s: [r for r in runs if r["setting"] == s] for s in SETTINGS}
    reps = range(min(len(v) for v in by.values()))
    speedup = [by["local w2"][k]["images_per_s"] / by["local w1"][k]["images_per_s"] for k in reps]
    contention = [by["local w2"][k]["engine_ms_per_image"] / by["local w1"][k]["engine_ms_per_image"] for k in reps]
    overhead = [
        (by["ray 1 actor"][k]["other_ms_per_image"] - by["local w1"][k]["other_ms_per_image"])
        / by["local w1"][k]["engine_ms_per_image"]
        for k in reps
    ]
    ray2 = [by["ray 2 actors"][k]["images_per_s"] / by["local w2"][k]["images_per_s"] for k in reps]
    say(f"\n{engine}")
    for s in SETTINGS:
        rs = by[s]
        other = (
            f"   other {spread([r['other_ms_per_image'] for r in rs], '5.2f')} ms/image"
            if s in ("local w1", "ray 1 actor")
            else ""
        )  # with 2 at once, wall and engine time overlap
        say(
            f"  {s:<13} {spread([r['images_per_s'] for r in rs], '6.1f')} images/s   "
            f"engine {spread([r['engine_ms_per_image'] for r in rs], '6.1f')} ms/image{other}"
            + (f"   ERRORS {sum(r['errors'] for r in rs)}" if any(r["errors"] for r in rs) else "")
        )
    say(
        f"  --workers 2 / --workers 1: {spread(speedup, '.2f')}x images/s (target >= 1.6x); engine time per "
        f"image with 2 workers / with 1: {spread(contention, '.2f')}x, so at most "
        f"{2 / statistics.median(contention):.2f}x from 2 workers"
    )
    say(
        f"  Ray overhead against the local runner (1 actor / 1 worker): {spread([100 * o for o in overhead], '+.1f')}"
        f"% of engine time per image (target < 5%)"
    )
    say(f"  Ray 2 actors / local --workers 2: {spread(ray2, '.2f')}x images/s")
    return {
        "workers2_over_workers1": statistics.median(speedup),
        "engine_time_w2_over_w1": statistics.median(contention),
        "ray_overhead_share": statistics.median(overhead),
        "ray2_over_local2": statistics.median(ray2),
    }


def machine() -> dict:
    model = (
        next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    return {"cores": CORES, "cpu": model, "python": platform.python_version(), "load_avg": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120, help="first N serials images (default 120)")
    ap.add_argument("--engines", default="tesseract,two-stage")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the machine, every run and the ratios here")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    started = time.monotonic()
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    before = machine()
    say(f"{before['cores']} cores, {before['cpu']}, load average {before['load_avg'][0]:.1f} at the start")
    ds = load_dataset("serials")
    ray = require_ray()
    for name, value in SLOW_START.items():
        os.environ.setdefault(name, value)
    ray.init(address="local", num_cpus=CORES, include_dashboard=False, log_to_driver=False)  # once, for every Ray run
    tmp = Path(tempfile.mkdtemp(prefix="scaling-"))
    runs: list[dict] = []
    try:
        for k in range(args.repeats):
            for engine in engines:
                for setting in SETTINGS if k % 2 == 0 else SETTINGS[::-1]:
                    m = read_once(ds, engine, setting, args.n, tmp / f"{engine}-{setting.replace(' ', '-')}-{k}")
                    runs.append({"engine": engine, "setting": setting, "repeat": k, **m})
                    print(json.dumps(runs[-1]), flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    ratios = {e: summarize(e, [r for r in runs if r["engine"] == e], say) for e in engines}
    after = machine()
    say(f"\nload average {after['load_avg'][0]:.1f} at the end; {time.monotonic() - started:.0f} s in all")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"machine": before, "load_avg_end": after["load_avg"], "n": args.n, "runs": runs, "ratios": ratios},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
