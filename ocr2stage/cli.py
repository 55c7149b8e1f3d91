"""``ocr2stage`` command line: train the character classifier.

Scoring the whole reader is the harness's job, with one normaliser and one scorer for every engine:
``bench datasets generate dev --seed 7 --n 1050 --out DIR`` then
``bench run --dataset DIR --engines two-stage [--engine-option two-stage.classifier=PATH]``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, help="Two-stage OCR: CRAFT character detection + CNN classifier.")


@app.callback()
def main() -> None:
    """Keeps ``train`` a named subcommand (typer runs a lone command without its name)."""


@app.command()
def train(
    n_images: Annotated[int, typer.Option(help="Generated training images (0: user crops only).")] = 1000,
    val_images: Annotated[int, typer.Option(help="Held-out generated images after the training ones.")] = 200,
    seed: Annotated[int, typer.Option(help="Dataset seed of the generated images; test-set seeds are refused.")] = 1,
    epochs: Annotated[int, typer.Option()] = 10,
    width: Annotated[int, typer.Option(help="Channels of the network's first block (new networks only).")] = 48,
    out: Annotated[Path, typer.Option(help="Where to write the weights (+ .json checksum beside).")] = Path(
        "classifier.pt"
    ),
    init: Annotated[Path | None, typer.Option(help="Weights to fine-tune from.")] = None,
    crops: Annotated[Path | None, typer.Option(help="Folder of labelled crops (labels.csv: file,label).")] = None,
    trainsets: Annotated[
        Path | None,
        typer.Option(help="Real labelled characters and plates to mix in (the layout of ../shared/trainsets)."),
    ] = None,
    real_weight: Annotated[int, typer.Option(help="Times each real crop is seen per epoch.")] = 2,
    labeller: Annotated[
        Path | None,
        typer.Option(help="Classifier that labels code images' crops from their text (default: --init, else shipped)."),
    ] = None,
    cache_dir: Annotated[Path, typer.Option(help="Stage-1 crop cache.")] = Path(".cache/ocr2stage"),
    device: Annotated[str, typer.Option()] = "cpu",
) -> None:
    """Train (or fine-tune) the character classifier; stage-1 crops are cached for re-runs."""
    import torch

    from ocr2stage.classification.train import TrainConfig
    from ocr2stage.classification.train import train as run
    from ocr2stage.classification.trainsets import TrainsetsError
    from ocr2stage.classification.weights import DEFAULT_PATH, save_classifier, verify_classifier

    torch.manual_seed(seed)
    cfg = TrainConfig(
        n_images=n_images,
        val_images=val_images,
        seed=seed,
        epochs=epochs,
        width=width,
        init=init,
        user_crops=crops,
        trainsets=trainsets,
        real_weight=real_weight,
        labeller=labeller,
        cache_dir=cache_dir,
        device=device,
    )
    try:
        result = run(cfg, log=typer.echo)
    except (ValueError, TrainsetsError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    meta = {
        "command": "ocr2stage " + shlex.join(sys.argv[1:]),
        "seed": seed,
        "n_images": n_images,
        "val_images": val_images,
        "epochs": epochs,
        "width": result.net.features[0][0].out_channels,  # type: ignore[index]  # items typed Module
        "bf16": result.bf16,
        "init": str(init) if init else None,
        "user_crops": str(crops) if crops else None,
        "trainsets": str(trainsets) if trainsets else None,
        "real_weight": real_weight if trainsets else None,
        "labeller": verify_classifier(labeller or init or DEFAULT_PATH) if trainsets else None,
        "train_crops": result.n_train,
        "val_crops": result.n_val,
        "train_seconds": round(result.seconds, 1),
        "val_accuracy": round(result.val_accuracy, 5),
        "val_accuracy_by_style": {k: round(v, 5) for k, v in result.val_by_style.items()},
        "val_real_accuracy_by_source": {k: round(v, 5) for k, v in result.val_real_by_style.items()},
        "val_stage1_recall": round(result.stage1_recall, 5),
        "torch": torch.__version__,
    }
    checksum = save_classifier(result.net, out, meta)
    typer.echo(
        f"val accuracy {result.val_accuracy:.4f}, stage-1 recall {result.stage1_recall:.4f}, "
        f"{result.seconds:.0f} s; wrote {out} ({checksum})"
    )


if __name__ == "__main__":
    app()
