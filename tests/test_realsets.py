"""Real photographed plates from ../shared/realsets (evaluation data, read in place, never copied).

Skips cleanly where the shared folder is absent.
"""

import json
from pathlib import Path

import pytest

from bench.datasets import PROJECT_DATASETS, DatasetError, load_dataset
from bench.runner import RunOptions, run


@pytest.fixture(scope="module")
def plates():
    try:
        return load_dataset("plates_us")
    except DatasetError as e:
        pytest.skip(f"real plates not present: {e}")


def test_plates_manifest_points_outside_the_project(plates):
    assert len(plates.items) == 746 and plates.problems == []
    assert not plates.root.is_relative_to(PROJECT_DATASETS.parent), "real sets must never be copied in"


@pytest.mark.slow
def test_tallest_line_reads_plate_codes_out_of_slogans(plates, tmp_path: Path):
    run_dir = run(plates, RunOptions(engines=("paddleocr",), limit=12), tmp_path / "run")
    recs = [json.loads(x) for x in (run_dir / "predictions" / "paddleocr.jsonl").read_text().splitlines()]
    assert len(recs) == 12 and all(r["error"] is None for r in recs)
    # The readout must isolate the code: state names and slogans never leak into the prediction.
    assert sum(r["prediction"] == r["truth"] for r in recs) >= 6, [(r["truth"], r["prediction"]) for r in recs]
    assert all(len(r["prediction"]) <= 9 for r in recs)
