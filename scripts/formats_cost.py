"""Two-stage on a dataset, raw and under its manifest's formats, and what decoding costs beside
the read: one JSON line per image (``python scripts/formats_cost.py DATASET STEP OUT.jsonl``).

Reads every STEP-th image with ``TwoStageOCR.read`` and decodes the result's lattice under the
image's format, timing both in wall and CPU time in the same process (issue 21's cost target:
decoding under 5% of the reader's time per image).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.formats import run_formats
from ocr2stage import TwoStageOCR
from ocr2stage.decoding import SYMBOLS, decode_lattice


def main(dataset: Path, step: int, out_path: Path) -> None:
    formats = run_formats(json.loads((dataset / "manifest.json").read_text()))
    if formats is None:
        raise SystemExit(f"{dataset}: the manifest declares no formats")
    rows = [json.loads(line) for line in (dataset / "labels.jsonl").read_text().splitlines()][::step]
    for fmt in formats.formats.values():
        fmt.automaton(SYMBOLS)  # compiled once, as a reader configured for a line would
    ocr = TwoStageOCR.from_pretrained()

    def image(row: dict) -> np.ndarray:
        return np.asarray(Image.open(dataset / "images" / row["file"]).convert("RGB"))

    ocr.read([image(rows[0])])  # warm-up
    with out_path.open("a") as out:
        for row in rows:
            t0, c0 = time.perf_counter(), time.process_time()
            result = ocr.read([image(row)])[0]
            t1, c1 = time.perf_counter(), time.process_time()
            lattice = [box for line in result.lines for box in line.lattice]
            decoded = decode_lattice(lattice, formats.for_item(row["meta"]))
            t2, c2 = time.perf_counter(), time.process_time()
            out.write(
                json.dumps(
                    {
                        "file": row["file"],
                        "meta": row["meta"],
                        "truth": "".join(row["text"].upper().split()),
                        "raw": "".join(result.text.split()),
                        "constrained": decoded.text,
                        "reason": decoded.reason,
                        "read_ms": (t1 - t0) * 1e3,
                        "decode_ms": (t2 - t1) * 1e3,
                        "read_cpu_ms": (c1 - c0) * 1e3,
                        "decode_cpu_ms": (c2 - c1) * 1e3,
                    }
                )
                + "\n"
            )
            out.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
