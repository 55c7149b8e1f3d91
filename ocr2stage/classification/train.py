"""Training the character classifier on CPU from generated data (and optionally user crops).

Why augment on the fly although the generator already varies styles: the crops are cached once
per stage-1 setting, so geometric and photometric jitter is what keeps later epochs from seeing
exactly the same pixels, and it covers camera conditions the generator does not draw.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ocr2stage.classification import text_labels, trainsets
from ocr2stage.classification.crops import crop, to_gray
from ocr2stage.classification.dataset import REJECT_INDEX, CropSet, cache_key, cached_crops
from ocr2stage.classification.net import CLASSES, REJECT, CharNet
from ocr2stage.classification.weights import CharClassifier
from ocr2stage.detection import CharDetector
from ocr2stage.detection.craft import native_bf16
from ocr2stage.images import open_image

CHUNK = 200
"""Images per cached crop file: an interrupted run resumes at the last finished chunk."""


def check_seed(seed: int) -> None:
    """Refuse a dataset seed of a shipped test set: training on it would leak the test."""
    from ocr2stage.synth import TEST_SEEDS

    for name, test_seed in TEST_SEEDS.items():
        if seed == test_seed:
            raise ValueError(f"seed {seed} generates the shipped test set {name!r}; pick another seed")


@dataclass
class TrainConfig:
    n_images: int = 1000
    val_images: int = 200
    """Held out: images ``n_images .. n_images + val_images - 1`` of the same seed."""
    seed: int = 1
    epochs: int = 10
    batch_size: int = 256
    lr: float = 3e-3
    width: int = 48
    """Channels of the first block; 48 beat 32 by 0.2 points of crop accuracy after 4 epochs."""
    init: Path | None = None
    """Weights to fine-tune from (verified like shipped ones); the learning rate drops tenfold."""
    user_crops: Path | None = None
    trainsets: Path | None = None
    """Real labelled characters and plates (:mod:`trainsets`) mixed with the generated ones."""
    real_weight: int = 2
    """Times each real training crop is seen per epoch: real crops are a fifth of the generated
    ones, and real capture is what the reader is for."""
    labeller: Path | None = None
    """Classifier whose reading labels code images' crops from their text (default: ``init``,
    else the shipped one); pinned so that a training command labels the same crops every time."""
    cache_dir: Path = Path(".cache/ocr2stage")
    device: str = "cpu"


@dataclass
class TrainResult:
    net: CharNet
    seconds: float
    n_train: int
    n_val: int
    val_accuracy: float
    val_by_style: dict[str, float] = field(default_factory=dict)
    val_real_by_style: dict[str, float] = field(default_factory=dict)
    """Crop accuracy per real source's held-out part (see :mod:`trainsets`)."""
    stage1_recall: float = 0.0
    """Share of true characters on the validation images that stage 1 gave a crop of."""
    bf16: bool = False
    """Trained and validated under bf16 autocast (where the hardware has it natively)."""


def load_user_crops(folder: Path) -> CropSet:
    """Crops listed in ``folder/labels.csv`` (columns ``file,label``; label one character or
    ``reject``). Each image should be cut like ocr2stage cuts: the character's width and the
    line's height, a quarter line height of margin around."""
    rows = list(csv.DictReader((Path(folder) / "labels.csv").open(newline="", encoding="utf-8")))
    crops, labels = [], []
    for row in rows:
        label = REJECT if row["label"].strip().lower() == "reject" else row["label"].strip().upper()
        if label not in CLASSES:
            raise ValueError(f"{folder}/labels.csv: label {row['label']!r} of {row['file']} is not in the charset")
        gray = to_gray(np.asarray(open_image(Path(folder) / row["file"]).convert("RGB")))
        crops.append(crop(gray, (0.0, 0.0, float(gray.shape[1]), float(gray.shape[0]))))
        labels.append(CLASSES.index(label))
    n = len(crops)
    return CropSet(
        np.stack(crops), np.array(labels, np.int64), np.full(n, -1, np.int32), np.zeros(n, np.int16), ("user",), 0
    )


def generated_crops(
    detector: CharDetector, cfg: TrainConfig, start: int, count: int, log: Callable[[str], None]
) -> CropSet:
    """Crops of generated images ``start .. start+count-1``, from cache where available."""
    parts = []
    for s in range(start, start + count, CHUNK):
        n = min(CHUNK, start + count - s)
        t = time.time()
        parts.append(cached_crops(detector, cfg.cache_dir, cfg.seed, s, n))
        log(f"stage 1 on images {s}..{s + n - 1}: {len(parts[-1].labels)} crops ({time.time() - t:.0f} s)")
    return CropSet.concat(parts)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random perspective and affine jitter, blur of varying strength, uneven light, contrast,
    noise and polarity on a batch (B, 1, 32, 32).

    Why perspective, stronger blur and uneven light: the real crops (plates photographed at an
    angle, binarised sheet characters) must teach shapes that survive capture, not the pixels of
    one scanner or one renderer."""
    b = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(b, generator=gen, device=x.device) * (hi - lo) + lo

    def chance(p: float) -> torch.Tensor:
        return (torch.rand(b, 1, 1, 1, generator=gen, device=x.device) < p).float()

    angle, scale, shear = uniform(-0.09, 0.09), uniform(0.88, 1.12), uniform(-0.12, 0.12)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin + shear, uniform(-0.08, 0.08)], 1), torch.stack([sin, cos, uniform(-0.08, 0.08)], 1)], 1
    )
    xy = F.affine_grid(torch.eye(2, 3, device=x.device).expand(b, 2, 3), list(x.shape), align_corners=False)
    mapped = torch.einsum("bhwk,bjk->bhwj", torch.cat([xy, torch.ones_like(xy[..., :1])], -1), theta)
    tilt = 1 + uniform(-0.12, 0.12).view(b, 1, 1) * xy[..., 0] + uniform(-0.12, 0.12).view(b, 1, 1) * xy[..., 1]
    x = F.grid_sample(x, mapped / tilt[..., None], padding_mode="border", align_corners=False)
    once = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    twice = F.avg_pool2d(once, 3, 1, 1, count_include_pad=False)
    blur_once, blur_twice = chance(0.25), chance(0.15)
    x = blur_twice * twice + (1 - blur_twice) * (blur_once * once + (1 - blur_once) * x)
    light = uniform(-40, 40).view(b, 1, 1) * xy[..., 0] + uniform(-40, 40).view(b, 1, 1) * xy[..., 1]
    x = x + chance(0.3) * light[:, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (x - mean) * uniform(0.4, 1.4).view(b, 1, 1, 1) + uniform(-30, 30).view(b, 1, 1, 1)
    x = x + torch.randn(x.shape, generator=gen, device=x.device) * uniform(0, 10).view(b, 1, 1, 1)
    flip = chance(0.15)
    return (flip * (255 - x) + (1 - flip) * x).clamp(0, 255)


@torch.inference_mode()
def predict(net: CharNet, crops: np.ndarray, device: torch.device, bf16: bool, batch: int = 1024) -> np.ndarray:
    """Class index per crop (eval mode), in the precision inference will use."""
    net.eval()
    out = []
    for i in range(0, len(crops), batch):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(net(torch.from_numpy(crops[i : i + batch])[:, None].to(device)).argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def accuracy(net: CharNet, crops: CropSet, device: torch.device, bf16: bool) -> float:
    return float((predict(net, crops.crops, device, bf16) == crops.labels).mean())


def accuracy_by_style(pred: np.ndarray, val: CropSet) -> dict[str, float]:
    right = pred == val.labels
    return {name: float(right[val.style == k].mean()) for k, name in enumerate(val.styles) if (val.style == k).any()}


def user_code_crops(
    detector: CharDetector, cfg: TrainConfig, codes: text_labels.CodeImages, log: Callable[[str], None]
) -> CropSet:
    """Crops of a user's code images labelled from their text (see :mod:`text_labels`) by the
    classifier being fine-tuned (the shipped one when training from scratch), cached under
    ``cfg.cache_dir`` like generated crops: a re-run with other epochs skips stage 1. The
    labelling classifier is ``cfg.labeller``, else ``cfg.init``, else the shipped one."""
    reader = CharClassifier.load(cfg.labeller or cfg.init, cfg.device)
    key = cache_key(detector, codes.identity, reader.checksum, sources=(Path(text_labels.__file__),))
    path = Path(cfg.cache_dir) / f"codes-{key}.npz"
    if path.exists():
        crops = CropSet.load(path)
        log(f"user code images: {len(crops.labels)} labelled crops from the cache ({path})")
        return crops
    t, done = time.time(), 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if done % 100 == 0:
            log(f"stage 1 on user code images: {done} done ({time.time() - t:.0f} s)")

    out = text_labels.text_labelled_crops(detector, reader.probabilities, codes.images, progress)
    for line in out.skipped:
        log(f"code image left out: {line}")
    log(
        f"user code images: {out.used} of {out.images} labelled, {len(out.crops.labels)} crops "
        f"({int((out.crops.labels == REJECT_INDEX).sum())} <reject>, {time.time() - t:.0f} s)"
    )
    out.crops.save(path)
    return out.crops


def real_crops(
    detector: CharDetector, cfg: TrainConfig, root: Path, log: Callable[[str], None]
) -> tuple[list[CropSet], dict[str, CropSet]]:
    """Training parts and validation crops by source of the real trainsets under ``root``; the
    ``br_plates`` photos are labelled from their code like a user's code images (cached)."""
    splits = trainsets.char_splits(root)
    found, codes = trainsets.plate_images(root)
    labelled = user_code_crops(detector, cfg, codes, log)
    val_plate = np.array([p.validation for p in found])[labelled.image]
    splits["br_plates"] = trainsets.Split(labelled.select(~val_plate), labelled.select(val_plate))
    for style, split in splits.items():
        log(f"real {style}: {len(split.train.labels)} training crops, {len(split.val.labels)} held out")
    return [s.train for s in splits.values()], {style: s.val for style, s in splits.items()}


def train(cfg: TrainConfig, log: Callable[[str], None] = print, extra: Sequence[CropSet] = ()) -> TrainResult:
    """Stage-1 crops of generated images (cached), user crops, the real trainsets and ``extra``
    labelled crops (e.g. a user's code images labelled by :func:`user_code_crops`, or a
    cross-validation fold's share of them), then epochs of augmented mini-batches."""
    check_seed(cfg.seed)
    if cfg.trainsets is not None:
        trainsets.check_root(cfg.trainsets)
    started = time.time()
    device = torch.device(cfg.device)
    detector = CharDetector(device=cfg.device)
    parts = [generated_crops(detector, cfg, 0, cfg.n_images, log)] if cfg.n_images > 0 else []
    if cfg.user_crops is not None:
        parts.append(load_user_crops(cfg.user_crops))
    parts += extra
    real_val: dict[str, CropSet] = {}
    if cfg.trainsets is not None:
        real_parts, real_val = real_crops(detector, cfg, cfg.trainsets, log)
        parts += real_parts * cfg.real_weight
    if not sum(len(p.labels) for p in parts):  # none given, or none usable
        raise ValueError("nothing to train on: give --n-images > 0, --crops, --trainsets or labelled code images")
    data = CropSet.concat(parts)
    val = generated_crops(detector, cfg, cfg.n_images, cfg.val_images, log)
    if cfg.init is not None:
        net, lr = CharClassifier.load(cfg.init, cfg.device).net, cfg.lr / 10
    else:
        net, lr = CharNet(len(CLASSES), cfg.width).to(device), cfg.lr
    # bf16 autocast halves a step's time where the hardware has it (measured: 304 -> 164 ms per batch).
    amp = native_bf16(device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = cfg.epochs * math.ceil(len(data.labels) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.15)
    x_all = torch.from_numpy(data.crops)[:, None].float()
    y_all = torch.from_numpy(data.labels)
    for epoch in range(cfg.epochs):
        net.train()
        t, total = time.time(), 0.0
        order = torch.randperm(len(y_all), generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            x = augment(x_all[idx].to(device), gen)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(net(x), y_all[idx].to(device), label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        acc = accuracy(net, val, device, amp) if len(val.labels) else float("nan")
        real = {k: accuracy(net, v, device, amp) for k, v in real_val.items()}
        log(
            f"epoch {epoch + 1}/{cfg.epochs}: loss {total / len(order):.4f}, val accuracy {acc:.4f}"
            + "".join(f", {k} {a:.4f}" for k, a in real.items())
            + f" ({time.time() - t:.0f} s)"
        )
    pred = predict(net, val.crops, device, amp)
    return TrainResult(
        net=net.cpu().eval(),
        seconds=time.time() - started,
        n_train=len(data.labels),
        n_val=len(val.labels),
        val_accuracy=float((pred == val.labels).mean()),
        val_by_style=accuracy_by_style(pred, val),
        val_real_by_style={k: accuracy(net, v, device, amp) for k, v in real_val.items()},
        stage1_recall=val.recall,
        bf16=amp,
    )
