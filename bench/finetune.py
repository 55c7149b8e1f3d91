"""Fine-tuning the two-stage classifier on a user's own code images (``bench finetune``).

Why in the harness: the user's set is read exactly as ``bench run`` reads it (manifest, bad label
rows and images reported the same way), evaluation sets are refused by the same rule, and the
library (``ocr2stage``) never imports the harness. The crops are labelled from each image's text
like ``bench crossval`` labels them (:func:`bench.crossval.label_crops`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench.crossval import label_crops
from bench.datasets import Dataset, evaluation_only, fingerprint
from bench.runner import OnEvent

if TYPE_CHECKING:  # heavy (torch): imported where training needs it
    from ocr2stage.classification.train import TrainConfig, TrainResult


class FinetuneError(ValueError):
    """The set may not or cannot be fine-tuned on (an evaluation set, nothing usable)."""


def finetune(
    dataset: Dataset, cfg: TrainConfig, log: Callable[[str], None], on_event: OnEvent = lambda *_: None
) -> tuple[TrainResult, dict[str, Any]]:
    """Label the crops of every image of ``dataset`` with ``cfg.init`` (else the shipped weights),
    then train ``cfg`` on them (plus ``cfg.n_images`` generated images); the result and what the
    weights' sidecar should record of the data."""
    from ocr2stage.classification.train import train
    from ocr2stage.classification.weights import DEFAULT_PATH

    refusal = evaluation_only(dataset)
    if refusal:
        raise FinetuneError(f"{refusal} (bench crossval is the one way it may feed fine-tuning, across folds)")
    crops, _ = label_crops(dataset, dataset.items, cfg.init or DEFAULT_PATH, cfg.cache_dir, cfg.device, on_event, log)
    images = len(set(crops.image.tolist()))
    log(f"{dataset.name}: {images} of {len(dataset.items)} images labelled, {len(crops.labels)} crops")
    if not len(crops.labels):
        raise FinetuneError(f"{dataset.name}: no image could be labelled from its text")
    result = train(cfg, log=log, extra=[crops])
    return result, {
        "dataset": dataset.name,
        "fingerprint": fingerprint(dataset.root),
        "images": images,
        "crops": len(crops.labels),
    }
