"""Cross-validated fine-tuning: what the classifier gains from a user's own labelled images.

Why folds: a user with one labelled set who fine-tunes on it and reads the same set measures
memory, not reading. Here every image is read by a classifier fine-tuned on the *other* folds'
images only, and images of one group (several photos of one plate) share a fold, so no photo is
read by a net that saw another photo of the same code. The pooled readings form one ordinary run
folder (engine ``two-stage-finetuned`` beside ``two-stage`` with the shipped weights and the
peers), so ``bench report`` and ``bench gate`` read it as any run.

Stage 1 and the shipped classifier label the character crops of all images once (cached, keyed
by the dataset's fingerprint); each fold then only trains on the others' crops, which keeps a
fold to minutes on two cores. This is the one way an ``evaluation_only`` set may feed training:
always across folds, never the fold being read.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.datasets import Dataset, ImageError, Item, fingerprint, load_image
from bench.readout import normalize
from bench.runner import OnEvent, RunOptions, read_items, start_run

if TYPE_CHECKING:  # heavy (torch): imported where training needs it
    from ocr2stage.classification.dataset import CropSet

SHIPPED = "two-stage"
FINETUNED = "two-stage-finetuned"
"""The name the fold-tuned readings run under: the ``two-stage`` engine with each fold's classifier."""
LABELLING = "labelling"
FINE_TUNING = "fine-tuning"
"""Progress task names besides the engines' (see :data:`bench.runner.OnEvent`)."""
GROUP_BY_TEXT = "text"


class CrossvalError(ValueError):
    """The cross-validation cannot start (too few folds or groups, unknown column) or go on."""


@dataclass(frozen=True)
class CrossvalOptions:
    folds: int = 5
    seed: int = 0
    """Seed of the fold split."""
    group_by: str | None = None
    """``text`` (the label, normalised per the manifest), a ``meta`` column, or None (each image alone)."""
    engines: tuple[str, ...] = (SHIPPED,)
    """Peers read unchanged (``two-stage`` with the shipped weights is always among them)."""
    epochs: int = 3
    n_images: int = 0
    """Generated images mixed into each fold's fine-tuning."""
    val_images: int = 200
    """Generated images the fine-tuning reports crop accuracy on (a check it did not unlearn)."""
    train_seed: int = 1
    """Seed of the generated images and of the training order (test-set seeds are refused)."""
    cache_dir: Path = Path(".cache/ocr2stage")
    device: str = "cpu"
    timeout_s: float = 120.0
    command: str = ""


def assign_folds(groups: Sequence[Hashable], k: int, seed: int) -> list[int]:
    """Fold index (0..k-1) per image, images with the same group key in the same fold.

    The groups are shuffled with ``seed``, then dealt largest first to the fold holding the fewest
    images so far (ties: lower fold), which keeps folds near equal in images even when groups
    differ in size, and never leaves a fold empty. Deterministic for the same groups and seed.
    """
    if k < 2:
        raise CrossvalError(f"cross-validation needs at least 2 folds, not {k}")
    distinct = list(dict.fromkeys(groups))
    if k > len(distinct):
        raise CrossvalError(f"{k} folds but only {len(distinct)} groups of images: every fold needs a group")
    size = {g: 0 for g in distinct}
    for g in groups:
        size[g] += 1
    random.Random(seed).shuffle(distinct)
    distinct.sort(key=size.__getitem__, reverse=True)  # stable: the shuffle breaks ties
    load, fold_of = [0] * k, {}
    for g in distinct:
        fold_of[g] = min(range(k), key=lambda f: (load[f], f))
        load[fold_of[g]] += size[g]
    return [fold_of[g] for g in groups]


def group_keys(items: Sequence[Item], manifest: dict[str, Any], group_by: str | None) -> list[str]:
    """Group key per image: its label (``text``, normalised as it is scored), a ``meta`` column,
    or its file (no grouping). Raises CrossvalError for a column some image lacks."""
    if group_by is None:
        return [it.file for it in items]
    if group_by == GROUP_BY_TEXT:
        return [normalize(it.text, manifest) for it in items]
    missing = [it.file for it in items if group_by not in it.meta]
    if len(missing) == len(items):
        columns = sorted({c for it in items for c in it.meta})
        raise CrossvalError(
            f"unknown group column {group_by!r}: the labels' meta columns are "
            f"{', '.join(columns) or 'none'} (or group by {GROUP_BY_TEXT!r})"
        )
    if missing:
        raise CrossvalError(f"group column {group_by!r} is missing on {len(missing)} images, e.g. {missing[0]}")
    return [str(it.meta[group_by]) for it in items]


def training_mask(crop_images: np.ndarray, folds: Sequence[int], fold: int) -> np.ndarray:
    """The crops a fold's classifier may train on: those of images outside ``fold``."""
    return np.asarray(folds)[crop_images] != fold


@dataclass(frozen=True)
class FoldClassifier:
    """One fold's fine-tuned classifier, as run.json records it."""

    fold: int
    path: str
    """Relative to the run folder."""
    sha256: str
    images: int
    """Images read with it (the fold's)."""
    train_images: int
    """Images whose crops it was trained on (labelled ones of the other folds)."""
    train_crops: int
    train_seconds: float
    val_accuracy: float
    """Crop accuracy on generated validation images."""


def _code_images(
    dataset: Dataset, items: Sequence[Item], done: list[int], on_event: OnEvent
) -> Iterator[tuple[str, Any, str]]:
    """The images as ``text_labels`` labels them, one at a time, advancing the labelling progress
    (``done[0]`` counts them)."""
    for item in items:
        try:
            image: Any = load_image(dataset.images_dir / item.file)
        except ImageError as exc:
            image = str(exc)
        yield item.file, image, item.text
        done[0] += 1
        on_event(LABELLING, "advance", 1)


def label_crops(
    dataset: Dataset,
    items: Sequence[Item],
    labeller: Path,
    cache_dir: Path,
    device: str,
    on_event: OnEvent,
    log: Callable[[str], None] | None = None,
) -> tuple[CropSet, int]:
    """Character crops of every image, labelled from its text by stage 1 + the ``labeller``
    classifier (cached by the dataset's fingerprint, the image list and the labeller; ``.image``
    indexes ``items``), and how many images stage 1 ran on (0 when the crops came from the cache).
    What is left out and why goes to ``log`` (default: the labelling progress bar's status)."""
    from ocr2stage.classification.text_labels import CodeImages
    from ocr2stage.classification.train import TrainConfig, user_code_crops
    from ocr2stage.detection import CharDetector

    on_event(LABELLING, "total", len(items))
    files = hashlib.sha256("\n".join(it.file for it in items).encode()).hexdigest()[:16]
    done = [0]
    codes = CodeImages(f"{fingerprint(dataset.root)} files:{files}", _code_images(dataset, items, done, on_event))
    cfg = TrainConfig(labeller=labeller, cache_dir=cache_dir, device=device)
    crops = user_code_crops(
        CharDetector(device=device), cfg, codes, log or (lambda msg: on_event(LABELLING, f"status:{msg}", 0))
    )
    on_event(LABELLING, "advance", len(items) - done[0])  # all of them when they came from the cache
    return crops, done[0]


def fine_tune(
    crops: CropSet,
    folds: Sequence[int],
    fold: int,
    files: Sequence[str],
    opts: CrossvalOptions,
    run_dir: Path,
    identity: dict[str, Any],
    log: Callable[[str], None],
) -> FoldClassifier:
    """Fine-tune the shipped classifier on the crops of the images outside ``fold`` and save it
    as ``run_dir/folds/fold-<fold>.pt``.

    ``identity`` (the split and the settings) and the files it was trained on go into the
    weights' sidecar, so a fold classifier says what it may read; one whose sidecar matches is
    reused (``--resume``)."""
    import torch

    from ocr2stage.classification.train import TrainConfig, train
    from ocr2stage.classification.weights import (
        DEFAULT_PATH,
        save_classifier,
        sidecar,
        verify_classifier,
    )

    subset = crops.select(training_mask(crops.image, folds, fold))
    trained_on = sorted(set(subset.image.tolist()))
    assert all(folds[i] != fold for i in trained_on), f"fold {fold}'s classifier would train on images it reads"
    record = {**identity, "fold": fold, "trained_on": [files[i] for i in trained_on]}
    path = run_dir / "folds" / f"fold-{fold}.pt"
    meta = json.loads(sidecar(path).read_text()) if path.exists() and sidecar(path).exists() else {}
    if meta.get("crossval") != record:
        cfg = TrainConfig(
            n_images=opts.n_images,
            val_images=opts.val_images,
            seed=opts.train_seed,
            epochs=opts.epochs,
            init=DEFAULT_PATH,
            cache_dir=opts.cache_dir,
            device=opts.device,
        )
        torch.manual_seed(opts.train_seed)
        try:
            result = train(cfg, log=log, extra=[subset])
        except ValueError as exc:
            raise CrossvalError(f"fold {fold}: {exc}") from exc
        meta = {
            "init": verify_classifier(DEFAULT_PATH),
            "epochs": opts.epochs,
            "n_images": opts.n_images,
            "val_images": opts.val_images,
            "seed": opts.train_seed,
            "bf16": result.bf16,
            "train_crops": result.n_train,
            "train_seconds": round(result.seconds, 1),
            "val_accuracy": round(result.val_accuracy, 5),
            "torch": torch.__version__,
            "crossval": record,
        }
        save_classifier(result.net, path, meta)
    else:
        log(f"reusing {path.name}")
    return FoldClassifier(
        fold,
        str(path.relative_to(run_dir)),
        verify_classifier(path),
        folds.count(fold),
        len(trained_on),
        meta["train_crops"],
        meta["train_seconds"],
        meta["val_accuracy"],
    )


def _fold_status(on_event: OnEvent, fold: int) -> Callable[[str], None]:
    """``fine_tune``'s log for one fold: each message as that fold's status line."""
    return lambda msg: on_event(FINE_TUNING, f"status:fold {fold}: {msg}", 0)


def plan(dataset: Dataset, opts: CrossvalOptions) -> list[int]:
    """The fold of every image; raises CrossvalError before any work when it cannot be made."""
    if not dataset.items:
        raise CrossvalError(f"dataset {dataset.name} has no usable labelled images")
    return assign_folds(group_keys(dataset.items, dataset.manifest, opts.group_by), opts.folds, opts.seed)


def crossval(
    dataset: Dataset, opts: CrossvalOptions, run_dir: Path, resume: bool = False, on_event: OnEvent = lambda *_: None
) -> Path:
    """Label, fine-tune per fold, then read each fold with its classifier beside the peers, into
    one run folder ``run_dir``; returns it. Raises CrossvalError or RunError."""
    folds = plan(dataset, opts)
    items = dataset.items
    peers = tuple(dict.fromkeys((SHIPPED, *opts.engines)))
    identity = {
        "dataset": fingerprint(dataset.root),
        "folds": folds,
        "seed": opts.seed,
        "group_by": opts.group_by,
        "epochs": opts.epochs,
        "n_images": opts.n_images,
        "val_images": opts.val_images,
        "train_seed": opts.train_seed,
    }
    plan_id = "sha256:" + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    run_json = run_dir / "run.json"
    if run_json.exists():
        if not resume:
            raise CrossvalError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
        previous = json.loads(run_json.read_text())["options"].get("crossval", {}).get("plan")
        if previous != plan_id:  # the folds' readings so far would come from other classifiers
            raise CrossvalError(
                f"cannot resume {run_dir}: it was made with another split or other fine-tuning settings"
            )
    from ocr2stage.classification.weights import DEFAULT_PATH, verify_classifier

    started = time.perf_counter()
    crops, detected = label_crops(dataset, items, DEFAULT_PATH, opts.cache_dir, opts.device, on_event)
    labelling = {
        "images": len(set(crops.image.tolist())),
        "crops": len(crops.labels),
        "stage1_images": detected,
        "seconds": round(time.perf_counter() - started, 1),
    }
    files = [it.file for it in items]
    on_event(FINE_TUNING, "total", opts.folds)
    classifiers = []
    for k in range(opts.folds):
        classifiers.append(
            fine_tune(
                crops,
                folds,
                k,
                files,
                opts,
                run_dir,
                identity,
                _fold_status(on_event, k),
            )
        )
        on_event(FINE_TUNING, "advance", 1)
    record = {
        "plan": plan_id,
        "folds": opts.folds,
        "seed": opts.seed,
        "group_by": opts.group_by,
        "fold_of": {it.file: f for it, f in zip(items, folds)},
        "labelled": labelling,
        "fine_tuning": {
            "init": DEFAULT_PATH.name,
            "init_sha256": verify_classifier(DEFAULT_PATH),
            "epochs": opts.epochs,
            "n_images": opts.n_images,
            "val_images": opts.val_images,
            "train_seed": opts.train_seed,
        },
        "classifiers": [asdict(c) for c in classifiers],
    }
    base = RunOptions(
        engines=(*peers, FINETUNED),
        device=opts.device,
        timeout_s=opts.timeout_s,
        command=opts.command,
        aliases={FINETUNED: SHIPPED},
        extra={"crossval": record},
    )
    _, manifest = start_run(dataset, base, run_dir, resume)
    for engine in base.engines:
        on_event(engine, "total", len(items))
    for c in classifiers:
        fold_items = [it for it, f in zip(items, folds) if f == c.fold]
        fold_opts = replace(base, engine_options={FINETUNED: {"classifier": str(run_dir / c.path)}})
        read_items(
            dataset,
            fold_items,
            manifest,
            fold_opts,
            run_dir,
            lambda engine, event, n: None if event == "total" else on_event(engine, event, n),
        )
    return run_dir
