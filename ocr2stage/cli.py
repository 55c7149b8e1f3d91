"""``ocr2stage`` command line: train the classifier, evaluate the whole reader on generated data."""

from __future__ import annotations

import shlex
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

app = typer.Typer(add_completion=False, help="Two-stage OCR: CRAFT character detection + CNN classifier.")


def _normalise(text: str) -> str:
    return "".join(text.split()).upper()


@app.command()
def train(
    n_images: Annotated[int, typer.Option(help="Generated training images (0: user crops only).")] = 1000,
    val_images: Annotated[int, typer.Option(help="Held-out generated images after the training ones.")] = 200,
    seed: Annotated[int, typer.Option(help="Dataset seed of the generated images; test-set seeds are refused.")] = 1,
    epochs: Annotated[int, typer.Option()] = 10,
    width: Annotated[int, typer.Option(help="Channels of the network's first block (new networks only).")] = 48,
    out: Annotated[Path, typer.Option(help="Where to write the weights (+ .json checksum beside).")] = Path(
        "classifier.pt"),
    init: Annotated[Path | None, typer.Option(help="Weights to fine-tune from.")] = None,
    crops: Annotated[Path | None, typer.Option(help="Folder of labelled crops (labels.csv: file,label).")] = None,
    trainsets: Annotated[Path | None, typer.Option(
        help="Real labelled characters and plates to mix in (the layout of ../shared/trainsets).")] = None,
    real_weight: Annotated[int, typer.Option(help="Times each real crop is seen per epoch.")] = 2,
    labeller: Annotated[Path | None, typer.Option(
        help="Classifier that labels code images' crops from their text (default: --init, else shipped).")] = None,
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
    cfg = TrainConfig(n_images=n_images, val_images=val_images, seed=seed, epochs=epochs, width=width, init=init,
                      user_crops=crops, trainsets=trainsets, real_weight=real_weight, labeller=labeller,
                      cache_dir=cache_dir, device=device)
    try:
        result = run(cfg, log=typer.echo)
    except (ValueError, TrainsetsError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    meta = {
        "command": "ocr2stage " + shlex.join(sys.argv[1:]),
        "seed": seed, "n_images": n_images, "val_images": val_images, "epochs": epochs,
        "width": result.net.features[0][0].out_channels,  # type: ignore[index]  # items typed Module
        "bf16": result.bf16,
        "init": str(init) if init else None, "user_crops": str(crops) if crops else None,
        "trainsets": str(trainsets) if trainsets else None, "real_weight": real_weight if trainsets else None,
        "labeller": verify_classifier(labeller or init or DEFAULT_PATH) if trainsets else None,
        "train_crops": result.n_train, "val_crops": result.n_val, "train_seconds": round(result.seconds, 1),
        "val_accuracy": round(result.val_accuracy, 5),
        "val_accuracy_by_style": {k: round(v, 5) for k, v in result.val_by_style.items()},
        "val_real_accuracy_by_source": {k: round(v, 5) for k, v in result.val_real_by_style.items()},
        "val_stage1_recall": round(result.stage1_recall, 5), "torch": torch.__version__,
    }
    checksum = save_classifier(result.net, out, meta)
    typer.echo(f"val accuracy {result.val_accuracy:.4f}, stage-1 recall {result.stage1_recall:.4f}, "
               f"{result.seconds:.0f} s; wrote {out} ({checksum})")


@app.command()
def evaluate(
    n_images: Annotated[int, typer.Option(help="Generated images, styles in turn.")] = 300,
    seed: Annotated[int, typer.Option(help="Dataset seed; test-set seeds are refused.")] = 7,
    start: Annotated[int, typer.Option(help="Index of the first image.")] = 0,
    classifier: Annotated[Path | None, typer.Option(help="Classifier weights (default: shipped).")] = None,
    batch: Annotated[int, typer.Option(help="Images per read() call.")] = 1,
    device: Annotated[str, typer.Option()] = "cpu",
) -> None:
    """Sequence accuracy per style and latency of the whole reader on generated images."""
    from ocr2stage.classification.dataset import generated_samples
    from ocr2stage.classification.train import check_seed
    from ocr2stage.pipeline import TwoStageOCR

    check_seed(seed)
    ocr = TwoStageOCR.from_pretrained(device=device, classifier_path=classifier)
    samples = list(generated_samples(seed, start, n_images))
    right: dict[str, list[bool]] = defaultdict(list)
    times = []
    for i in range(0, len(samples), batch):
        chunk = [s for _, s in samples[i:i + batch]]
        t = time.perf_counter()
        results = ocr.read([np.asarray(s.image.convert("RGB")) for s in chunk])
        times.append((time.perf_counter() - t) * 1000 / len(chunk))
        for s, r in zip(chunk, results):
            ok = _normalise(r.text) == _normalise(s.text)
            right[str(s.meta["style"])].append(ok)
            if not ok:
                typer.echo(f"  {s.meta['style']:16s} truth {s.text!r:32s} read {r.text!r}")
    for style, oks in right.items():
        typer.echo(f"{style:16s} sequence accuracy {np.mean(oks):.4f} (n={len(oks)})")
    every = [ok for oks in right.values() for ok in oks]
    typer.echo(f"{'all':16s} sequence accuracy {np.mean(every):.4f} (n={len(every)}); "
               f"latency p50 {np.percentile(times, 50):.0f} ms, p95 {np.percentile(times, 95):.0f} ms per image")


if __name__ == "__main__":
    app()
