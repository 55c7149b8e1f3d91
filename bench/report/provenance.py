"""Home advantage: was an engine trained on images from the generator that rendered the scored set?

The report knows of an engine's training only what the run stored (the checksums of the weights
it loaded, the engine options) and what a weight file's sidecar (``<weights>.json``, written by
``ocr2stage train``) records: ``n_images`` generated images of ``seed``, and the weights it was
fine-tuned from (``init``). A sidecar is used only when its checksum is one the run loaded, so
the record always describes the very weights that were scored. The set's side is its
manifest's ``generator`` recipe (``ocr2stage.synth/<version>``).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report.load import Run

GENERATOR = "ocr2stage.synth"
"""The generator ``ocr2stage train`` renders its generated training images with."""
MAX_INIT_DEPTH = 8
"""How many ``init`` links are followed back to the first weights (a loop cannot hang the report)."""


@dataclass(frozen=True)
class HomeAdvantage:
    engine: str
    n_images: int
    """Generated training images of the generator, summed over the weights and those they came from."""
    seeds: tuple[int, ...]
    same_seed: bool
    """A training seed equals the set's seed: the engine may have seen these very images."""


def _shipped_weights() -> Path | None:
    spec = importlib.util.find_spec("ocr2stage")
    return Path(spec.origin).parent / "weights" if spec and spec.origin else None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _sidecars(run: Run, engine: str) -> list[Path]:
    """Where the sidecar of a weight file this engine loaded may be: beside a file passed as an
    engine option, or among the shipped weights."""
    options = ((run.run.get("options") or {}).get("engine_options") or {}).get(engine) or {}
    found = [Path(str(v)).with_suffix(".json") for v in options.values() if str(v).endswith(".pt")]
    shipped = _shipped_weights()
    if shipped is not None and shipped.is_dir():
        found += sorted(shipped.glob("*.json"))
    return found


def training_record(run: Run, engine: str) -> dict[str, Any] | None:
    """The sidecar whose checksum is one of the weights the engine loaded, or None."""
    loaded = set((run.info(engine).get("weights") or {}).values())
    for path in _sidecars(run, engine):
        record = _read(path)
        if record and record.get("sha256") in loaded:
            return record
    return None


def _generated(record: dict[str, Any]) -> list[tuple[int, int]]:
    """``(n_images, seed)`` of the generated training images of these weights and the ones they
    were fine-tuned from (``init``, followed while its sidecar is there)."""
    out = []
    current: dict[str, Any] | None = record
    for _ in range(MAX_INIT_DEPTH):
        if current is None:
            break
        if int(current.get("n_images") or 0) > 0:
            out.append((int(current["n_images"]), int(current.get("seed", -1))))
        init = current.get("init")
        current = _read(Path(str(init)).with_suffix(".json")) if init else None
    return out


def home_advantage(run: Run, engine: str) -> HomeAdvantage | None:
    """Set when the scored set was rendered by ``GENERATOR`` and the engine's weights were trained
    on images of it; None when either is not so or not known."""
    generator = (run.run.get("manifest") or {}).get("generator") or {}
    if not str(generator.get("recipe", "")).startswith(GENERATOR + "/"):
        return None
    record = training_record(run, engine)
    generated = _generated(record) if record else []
    if not generated:
        return None
    seeds = tuple(dict.fromkeys(seed for _, seed in generated))
    return HomeAdvantage(engine, sum(n for n, _ in generated), seeds, generator.get("seed") in seeds)
