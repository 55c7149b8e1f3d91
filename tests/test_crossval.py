"""bench crossval: the fold split (pure), and a small real cross-validation on real plate photos."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import make_dataset
from typer.testing import CliRunner

from bench.cli import app
from bench.crossval import CrossvalError, assign_folds, group_keys, training_mask
from bench.datasets import Item, load_dataset
from bench.runner import RunOptions, read_items, start_run

BR_PLATES = Path(__file__).resolve().parents[2] / "shared/trainsets/br_plates"


# -- the split --------------------------------------------------------------------------------


def test_folds_are_deterministic_group_pure_and_balanced():
    groups = [f"g{i % 7}" for i in range(40)] + [f"solo{i}" for i in range(10)]
    folds = assign_folds(groups, 4, seed=3)
    assert folds == assign_folds(groups, 4, seed=3)
    assert len(folds) == len(groups) and set(folds) == {0, 1, 2, 3}
    for g in set(groups):
        assert len({f for f, h in zip(folds, groups) if h == g}) == 1
    sizes = Counter(folds).values()
    assert max(sizes) - min(sizes) <= 6  # the largest group has 6 images


def test_another_seed_gives_another_split():
    groups = [str(i) for i in range(30)]
    assert assign_folds(groups, 5, seed=0) != assign_folds(groups, 5, seed=1)
    assert sorted(Counter(assign_folds(groups, 5, seed=1)).values()) == [6] * 5


@pytest.mark.parametrize(("k", "n_groups"), [(1, 5), (0, 5), (6, 5)])
def test_too_few_folds_or_groups_are_refused(k: int, n_groups: int):
    with pytest.raises(CrossvalError):
        assign_folds([str(i % n_groups) for i in range(20)], k, seed=0)


def test_group_keys_by_text_meta_or_file():
    items = [Item("a.png", "ab 12", meta={"plate": "x"}), Item("b.png", "AB12", meta={"plate": "y"})]
    manifest = {"normalize": {"uppercase": True, "remove_whitespace": True}}
    assert group_keys(items, manifest, "text") == ["AB12", "AB12"]  # grouped as scored
    assert group_keys(items, manifest, "plate") == ["x", "y"]
    assert group_keys(items, manifest, None) == ["a.png", "b.png"]
    with pytest.raises(CrossvalError, match="unknown group column 'camera'.*plate"):
        group_keys(items, manifest, "camera")


def test_a_fold_never_trains_on_its_own_images():
    folds = [0, 1, 2, 0, 1, 2]
    crop_images = np.array([0, 0, 1, 2, 3, 3, 4, 5, 5])
    for k in range(3):
        mask = training_mask(crop_images, folds, k)
        assert not any(folds[i] == k for i in crop_images[mask])
        assert all(folds[i] == k for i in crop_images[~mask])


@pytest.mark.parametrize(
    "args",
    [
        ["--folds", "1"],
        ["--folds", "7"],
        ["--group-by", "camera"],
        ["--engines", "two-stage-finetuned"],
        ["--engines", "nope"],
        ["--dataset", "no-such-set"],
    ],
)
def test_usage_errors_exit_2_before_any_work(args: list[str], tmp_path: Path):
    root = make_dataset(tmp_path / "d", ["AB12", "AB12", "CD34", "EF56", "GH78", "GH78"])  # 4 groups by text
    out = tmp_path / "r"
    result = CliRunner().invoke(
        app,
        [
            "crossval",
            "--dataset",
            str(root),
            "--group-by",
            "text",
            "--folds",
            "2",
            "--engines",
            "two-stage",
            "--out",
            str(out),
            *args,
        ],
    )
    assert result.exit_code == 2, result.output
    assert not out.exists()


# -- a real cross-validation --------------------------------------------------------------------


def _plate_subset(root: Path, codes: int = 8, photos: int = 3) -> Path:
    """``codes`` plate codes with ``photos`` photos each from br_plates, copied into ``root``."""
    rows = list(csv.DictReader((BR_PLATES / "labels.csv").open(encoding="utf-8")))
    by_code: dict[str, list[str]] = {}
    for row in rows:
        by_code.setdefault(row["text"], []).append(row["file"])
    chosen = [c for c in sorted(by_code) if len(by_code[c]) >= photos][:codes]
    (root / "images").mkdir(parents=True)
    lines = ["file,text"]
    for code in chosen:
        for file in by_code[code][:photos]:
            shutil.copy(BR_PLATES / "images" / file, root / "images" / file)
            lines.append(f"{file},{code}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def crossval_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not (BR_PLATES / "labels.csv").exists():
        pytest.skip(f"{BR_PLATES} is not present")
    tmp = tmp_path_factory.mktemp("crossval")
    data, out = _plate_subset(tmp / "plates"), tmp / "run"
    result = CliRunner().invoke(
        app,
        [
            "crossval",
            "--dataset",
            str(data),
            "--folds",
            "2",
            "--group-by",
            "text",
            "--engines",
            "two-stage",
            "--epochs",
            "1",
            "--val-images",
            "8",
            "--cache-dir",
            str(tmp / "cache"),
            "--out",
            str(out),
            "--no-report",
            "--timeout",
            "900",
        ],
    )  # a reader starved by a busy machine is not an error of crossval
    assert result.exit_code == 0, result.output
    return data, out


@pytest.mark.slow
def test_folds_are_disjoint_group_pure_and_recorded(crossval_run: tuple[Path, Path]):
    data, out = crossval_run
    record = json.loads((out / "run.json").read_text())["options"]["crossval"]
    labels = {r["file"]: r["text"] for r in csv.DictReader((data / "labels.csv").open(encoding="utf-8"))}
    fold_of = record["fold_of"]
    assert set(fold_of) == set(labels) and set(fold_of.values()) == {0, 1}  # every image in exactly one fold
    for code in set(labels.values()):
        assert len({fold_of[f] for f, t in labels.items() if t == code}) == 1
    assert record["group_by"] == "text" and record["seed"] == 0 and record["fine_tuning"]["epochs"] == 1
    assert [c["fold"] for c in record["classifiers"]] == [0, 1]
    assert all(c["sha256"].startswith("sha256:") for c in record["classifiers"])


@pytest.mark.slow
def test_no_image_is_read_by_a_classifier_trained_on_it(crossval_run: tuple[Path, Path]):
    _, out = crossval_run
    record = json.loads((out / "run.json").read_text())["options"]["crossval"]
    for c in record["classifiers"]:
        sidecar = json.loads((out / c["path"]).with_suffix(".json").read_text())
        assert sidecar["sha256"] == c["sha256"]
        trained_on = sidecar["crossval"]["trained_on"]
        assert trained_on and all(record["fold_of"][f] != c["fold"] for f in trained_on)
        assert c["images"] == sum(f == c["fold"] for f in record["fold_of"].values())
    weights = json.loads((out / "engines" / "two-stage-finetuned.json").read_text())["info"]["weights"]
    assert {c["sha256"] for c in record["classifiers"]} <= set(weights.values())  # each fold's file is named


@pytest.mark.slow
def test_run_folder_reads_like_any_run(crossval_run: tuple[Path, Path]):
    _, out = crossval_run
    summary = json.loads((out / "summary.json").read_text())
    fold_of = json.loads((out / "run.json").read_text())["options"]["crossval"]["fold_of"]
    for engine in ("two-stage", "two-stage-finetuned"):
        recs = [json.loads(x) for x in (out / "predictions" / f"{engine}.jsonl").read_text().splitlines()]
        assert sorted(r["file"] for r in recs) == sorted(fold_of)
        assert all(r["error"] is None for r in recs)
        assert summary["engines"][engine]["metrics"]["n"] == len(fold_of)
    assert summary["engines"]["two-stage-finetuned"]["info"]["label"].startswith("two-stage-finetuned (two-stage")
    result = CliRunner().invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert "two-stage-finetuned" in (out / "report.html").read_text(encoding="utf-8")


def test_runner_reads_item_subsets_under_an_alias(tmp_path: Path):
    """The runner pieces crossval builds on: one engine under a second name, read subset by subset
    into one run folder (tesseract: fast)."""
    ds = load_dataset(str(make_dataset(tmp_path / "d", ["AB12", "CD34", "EF56"])))
    opts = RunOptions(engines=("tesseract", "tess-b"), aliases={"tess-b": "tesseract"})
    items, manifest = start_run(ds, opts, tmp_path / "run")
    for subset in (items[:2], items[2:]):
        read_items(ds, subset, manifest, opts, tmp_path / "run")
    for engine in opts.engines:
        recs = [json.loads(x) for x in (tmp_path / "run" / "predictions" / f"{engine}.jsonl").read_text().splitlines()]
        assert [r["file"] for r in recs] == [it.file for it in items] and {r["engine"] for r in recs} == {engine}
    info = json.loads((tmp_path / "run" / "engines" / "tess-b.json").read_text())["info"]
    assert info["name"] == "tess-b" and info["label"].startswith("tess-b (Tesseract")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["options"]["aliases"] == {"tess-b": "tesseract"}
