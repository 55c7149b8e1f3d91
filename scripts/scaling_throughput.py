"""Throughput of `bench run --workers N` and the Ray path's scheduling overhead, in one session.

    .venv/bin/python scripts/scaling_throughput.py [--n 120] [--engine tesseract] [--repeats 2]

Reads the first N `serials` images with one engine: locally with --workers 1 and 2 (alternating,
``--repeats`` times each, so a change of the machine's load hits both alike), then on a local Ray
(2 CPUs, started here) with one actor. Prints images/s per setting (from each run's
``engines/<engine>.json`` throughput: wall time of the reading turns, loads excluded) and the Ray
overhead: (wall time per image on Ray - wall time per image locally) / engine time per image, the
engine time being the latency the workers measured around ``engine.read``. One JSON line per run
goes to stdout; a summary to stderr. Results in docs/scaling.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench.cluster import ClusterSpec
from bench.cluster import run as run_on_ray
from bench.datasets import load_dataset
from bench.runner import RunOptions, run

SETTINGS: list[tuple[str, dict]] = [
    ("local, --workers 1", {}), ("local, --workers 2", {"workers": 2}),
    ("ray, 1 actor", {"cluster": "local"}), ("ray, 2 actors", {"cluster": "local", "workers": 2}),
]


def measure(out: Path, engine: str) -> dict[str, float]:
    """images/s, wall ms per image and mean engine ms per image of one finished run folder."""
    tp = json.loads((out / "engines" / f"{engine}.json").read_text())["throughput"]
    recs = [json.loads(x) for x in (out / "predictions" / f"{engine}.jsonl").read_text().splitlines()]
    lat = [r["latency_ms"] for r in recs if r["latency_ms"] is not None]
    return {"images_per_s": tp["images_per_s"], "wall_ms_per_image": 1000 * tp["read_s"] / tp["images"],
            "engine_ms_per_image": statistics.mean(lat) if lat else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--engine", default="tesseract")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    ds = load_dataset("serials")
    tmp = Path(tempfile.mkdtemp(prefix="scaling-"))
    rows: dict[str, list[dict[str, float]]] = {}
    k = 0
    for _ in range(args.repeats):
        for setting, extra in SETTINGS:
            k += 1
            opts = RunOptions(engines=(args.engine,), limit=args.n, **extra)
            out = tmp / f"run{k}"
            if opts.cluster:
                run_on_ray(ds, opts, out, ClusterSpec("local"))
            else:
                run(ds, opts, out)
            m = measure(out, args.engine)
            rows.setdefault(setting, []).append(m)
            print(json.dumps({"setting": setting, **m}), flush=True)
    med = {s: {key: statistics.median(m[key] for m in ms) for key in ms[0]} for s, ms in rows.items()}
    for s, m in med.items():
        print(f"{s:<20} {m['images_per_s']:6.1f} images/s  wall {m['wall_ms_per_image']:6.1f} ms/image  "
              f"engine {m['engine_ms_per_image']:6.1f} ms/image", file=sys.stderr)
    w1, w2 = med["local, --workers 1"], med["local, --workers 2"]
    print(f"--workers 2 / --workers 1: {w2['images_per_s'] / w1['images_per_s']:.2f}x", file=sys.stderr)
    r1 = med["ray, 1 actor"]
    overhead = (r1["wall_ms_per_image"] - w1["wall_ms_per_image"]) / w1["engine_ms_per_image"]
    print(f"Ray overhead against the local runner (1 worker): {100 * overhead:+.1f}% of engine time per image",
          file=sys.stderr)


if __name__ == "__main__":
    main()
