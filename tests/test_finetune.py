"""``bench finetune``: the classifier fine-tuned on a user's code images labelled only with their text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from ocr2stage.classification.weights import DEFAULT_PATH, CharClassifier, sidecar
from ocr2stage.synth import STYLES, render_sample, sample_seed


def _finetune(tmp_path: Path, dataset: Path | str) -> tuple[int, str, Path]:
    out = tmp_path / "tuned.pt"
    args = [
        "finetune",
        "--dataset",
        str(dataset),
        "--out",
        str(out),
        "--n-images",
        "0",
        "--val-images",
        "2",
        "--epochs",
        "1",
        "--seed",
        "5",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output, out


def test_fine_tuning_on_user_code_images_labelled_by_text(tmp_path: Path) -> None:
    """A user's labelled code images in bench's layout; the unusable ones are reported, not fatal."""
    codes = tmp_path / "mine"
    (codes / "images").mkdir(parents=True)
    rows = ["file,text"]
    for i in range(6):
        sample = render_sample(sample_seed(11, i), style=STYLES[i % len(STYLES)])
        sample.image.save(codes / "images" / f"{i}.png")
        rows.append(f'{i}.png,"{sample.text}"')
    shutil.copy(codes / "images" / "0.png", codes / "images" / "odd.png")
    (codes / "images" / "broken.png").write_bytes(b"not a png")
    rows += ["odd.png,AB#12", "broken.png,AB12"]
    (codes / "labels.csv").write_text("\n".join(rows) + "\n")
    code, output, out = _finetune(tmp_path, codes)
    assert code == 0, output
    assert "6 of 8 images labelled" in output
    assert "odd.png: label characters '#'" in output and "broken.png: corrupt" in output
    record = json.loads(sidecar(out).read_text())
    assert CharClassifier.load(out).checksum == record["sha256"]
    assert record["user_codes"]["images"] == 6 and record["train_crops"] > 60
    assert record["init_sha256"] == CharClassifier.load(DEFAULT_PATH).checksum
    again, output, _ = _finetune(tmp_path, codes)  # labelled crops come from the cache
    assert again == 0 and "labelled crops from the cache" in output


@pytest.mark.parametrize("where", ["realsets", "datasets"])
def test_fine_tuning_refuses_evaluation_sets(tmp_path: Path, where: str) -> None:
    if where == "datasets":
        folder, why = "serials", "test set (evaluation_only"
    else:
        folder, why = str(tmp_path / "realsets" / "plates"), "real evaluation data"
        (tmp_path / "realsets" / "plates" / "images").mkdir(parents=True)
        (tmp_path / "realsets" / "plates" / "labels.csv").write_text("file,text\na.png,AB12\n")
    code, output, out = _finetune(tmp_path, folder)
    assert code == 2 and why in output and not out.exists()
