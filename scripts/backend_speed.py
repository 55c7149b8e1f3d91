"""Per-backend latency of the two-stage reader, interleaved on the same images, and how many
readings each backend shares with PyTorch float32.

    python scripts/backend_speed.py --dataset serials --limit 240
    python scripts/backend_speed.py --dataset plates_us --limit 240 --backends torch,onnx --slowest 10

Every image is read once by each backend in turn (the order rotating per image), so a machine
that is busy slows every backend alike: the ratios to ``torch`` hold under load, the absolute
milliseconds only on an idle machine. Stage 1 is ``CharDetector.detect`` (CRAFT and its
post-processing), stage 2 the rest of ``TwoStageOCR.read`` (crops, classifier, second look,
lines). ``identical``: share of images whose text (all lines) equals the ``torch`` reading;
``same code``: whose code as the harness scores it (the manifest's readout and normalisation)
does; ``correct``: codes equal to the truth (sequence accuracy), with the paired count of images
only ``torch`` or only the backend reads right.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.datasets import load_dataset, load_image
from bench.engines.base import Line, Reading
from bench.readout import normalize, read_out
from ocr2stage import TwoStageOCR
from ocr2stage.detection import DetectorConfig
from ocr2stage.device import cpu_isa


class _Timed:
    """Stands in for ``CharDetector.net``: records each CRAFT input size and time of one read."""

    def __init__(self, net: Any) -> None:
        self.inner, self.calls = net, []

    def __call__(self, image: np.ndarray, size: tuple[int, int]) -> Any:
        t0 = time.perf_counter()
        out = self.inner(image, size)
        self.calls.append((size, time.perf_counter() - t0))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3 if values else float("nan")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="serials")
    ap.add_argument("--limit", type=int, default=120, help="first N images of the dataset")
    ap.add_argument(
        "--backends",
        default="torch,onnx,onnx-int8",
        help="comma-separated; the first torch one is the reference (torch added when missing); 'auto' allowed; "
        "BACKEND:KEY=VALUE[,...] changes stage 1's DetectorConfig (numbers), e.g. "
        "'onnx-int8:max_side=768'; separate such variants with ';'",
    )
    ap.add_argument("--slowest", type=int, default=0, help="print the K slowest images of the first backend")
    ap.add_argument("--json", type=Path, help="write per-image rows here (JSON lines)")
    ap.add_argument("--threads", type=int, help="compute threads (torch and ONNX Runtime); default: torch's")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    sep = ";" if ";" in args.backends or ":" in args.backends else ","
    names = [b.strip() for b in args.backends.split(sep) if b.strip()]
    if not any(n.partition(":")[0] == "torch" for n in names):
        names.insert(0, "torch")
    reference = next(n for n in names if n.partition(":")[0] == "torch")
    ds = load_dataset(args.dataset)
    items = ds.items[: args.limit]
    print(f"{ds.name}: {len(items)} images; isa {cpu_isa()}; torch threads {torch.get_num_threads()}", flush=True)
    readers, load_s = {}, {}
    for name in names:
        t0 = time.perf_counter()
        backend, _, overrides = name.partition(":")
        config = DetectorConfig(
            **{
                k: type(getattr(DetectorConfig, k))(v)
                for k, v in (kv.split("=", 1) for kv in overrides.split(",") if kv)
            }
        )
        readers[name] = TwoStageOCR.from_pretrained(backend=backend, config=config)
        load_s[name] = time.perf_counter() - t0
        print(
            f"loaded {name} -> {readers[name].backend} (detector {readers[name].detector.net.precision}, "
            f"classifier {readers[name].classifier.precision}) in {load_s[name]:.1f} s",
            flush=True,
        )
    for ocr in readers.values():
        ocr.detector.net = _Timed(ocr.detector.net)  # type: ignore[assignment]
    first = load_image(ds.images_dir / items[0].file)
    for ocr in readers.values():
        ocr.read([first])  # warm-up

    rows: list[dict[str, Any]] = []
    out = args.json.open("w") if args.json else None
    for i, item in enumerate(items):
        image = load_image(ds.images_dir / item.file)
        order = names[i % len(names) :] + names[: i % len(names)]
        row: dict[str, Any] = {"file": item.file, "shape": list(image.shape[:2]), "truth": item.text}
        for name in order:
            ocr = readers[name]
            timed: _Timed = ocr.detector.net  # type: ignore[assignment]
            timed.calls.clear()
            t0 = time.perf_counter()
            stage1 = [0.0]
            detect = ocr.detector.detect

            def timed_detect(img: np.ndarray, _detect: Any = detect, _acc: list[float] = stage1) -> Any:
                s0 = time.perf_counter()
                lines = _detect(img)
                _acc[0] += time.perf_counter() - s0
                return lines

            ocr.detector.detect = timed_detect  # type: ignore[method-assign]
            try:
                result = ocr.read([image])[0]
            finally:
                del ocr.detector.detect
            total = time.perf_counter() - t0
            code = read_out(Reading(tuple(Line(ln.text, ln.box, ln.confidence) for ln in result.lines)), ds.manifest)
            row[name] = {
                "text": result.text,
                "code": code,
                "correct": code == normalize(item.text, ds.manifest),
                "total": total,
                "stage1": stage1[0],
                "stage2": total - stage1[0],
                "craft": [[list(s), t] for s, t in timed.calls],
                "lines": len(result.lines),
            }
        rows.append(row)
        if out:
            out.write(json.dumps(row) + "\n")
            out.flush()
        if (i + 1) % 20 == 0:
            print(f"  {i + 1}/{len(items)}", file=sys.stderr, flush=True)

    ref = [r[reference] for r in rows]
    print(
        f"\n{'backend':<12}{'load s':>7}{'stage1 p50':>11}{'p95':>7}{'stage2 p50':>11}{'p95':>7}"
        f"{'whole p50':>10}{'p95':>7}{'p50/torch':>10}{'pair ratio':>11}{'identical':>10}{'same code':>10}"
        f"{'correct':>8}{'+/-':>8}"
    )
    for name in names:
        rs = [r[name] for r in rows]
        whole = [r["total"] for r in rs]
        pair = statistics.median(a["total"] / b["total"] for a, b in zip(rs, ref))
        same = sum(a["text"] == b["text"] for a, b in zip(rs, ref)) / len(rows)
        code = sum(a["code"] == b["code"] for a, b in zip(rs, ref)) / len(rows)
        gained = sum(a["correct"] and not b["correct"] for a, b in zip(rs, ref))
        lost = sum(b["correct"] and not a["correct"] for a, b in zip(rs, ref))
        print(
            f"{name:<12}{load_s[name]:>7.1f}{_pct([r['stage1'] for r in rs], 50):>11.0f}"
            f"{_pct([r['stage1'] for r in rs], 95):>7.0f}{_pct([r['stage2'] for r in rs], 50):>11.0f}"
            f"{_pct([r['stage2'] for r in rs], 95):>7.0f}{_pct(whole, 50):>10.0f}{_pct(whole, 95):>7.0f}"
            f"{np.median(whole) / np.median([r['total'] for r in ref]):>10.2f}{pair:>11.2f}{same:>10.1%}"
            f"{code:>10.1%}{sum(r['correct'] for r in rs) / len(rows):>8.1%}{f'+{gained}/-{lost}':>8}"
        )
    print(
        "(ms; 'p50/torch': ratio of medians; 'pair ratio': median of per-image ratios; 'identical': all text "
        f"equal to {reference}'s; 'same code': the scored code; '+/-': images only this backend / only "
        f"{reference} reads right)"
    )
    if args.slowest:
        name = names[-1] if len(names) > 1 else names[0]
        print(f"\nslowest {args.slowest} images ({name}): file, shape, ms, stage1 ms, CRAFT inputs (w x h: ms), lines")
        for r in sorted(rows, key=lambda r: -r[name]["total"])[: args.slowest]:
            x = r[name]
            craft = ", ".join(f"{s[0]}x{s[1]}: {t * 1e3:.0f}" for s, t in x["craft"])
            print(
                f"  {r['file']}  {r['shape'][0]}x{r['shape'][1]}  {x['total'] * 1e3:.0f}  {x['stage1'] * 1e3:.0f}"
                f"  [{craft}]  {x['lines']}"
            )


if __name__ == "__main__":
    main()
