"""Training crops: stage 1 run on generated images, its detections labelled from the truth boxes.

Why crops of what stage 1 actually detects, not of the truth boxes: the classifier must learn
the crops it will see - CRAFT's box offsets, the occasional half character or noise blob (all
labelled with the reject class) - not an idealised version of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocr2stage.classification.crops import line_crops, to_gray
from ocr2stage.classification.net import CLASSES, CROP_SIZE
from ocr2stage.detection import CharDetector, DetectedChar
from ocr2stage.geometry import Box
from ocr2stage.synth.dataset import generated_samples  # re-exported: where training images come from

REJECT_INDEX = len(CLASSES) - 1
COVER_MIN = 0.6
"""Share of a true character a detection must cover to be labelled with it; less is a fragment."""
COVER_OTHER = 0.35
"""A detection covering this much of a second character of similar size spans two: rejected."""
SIMILAR_SIZE = 0.3
"""Area ratio above which a second character counts as similar; a dot or a dash does not."""


def _area(b: Box) -> float:
    return max((b[2] - b[0]) * (b[3] - b[1]), 1e-6)


def _cover(det: Box, truth: Box) -> float:
    ix = max(0.0, min(det[2], truth[2]) - max(det[0], truth[0]))
    iy = max(0.0, min(det[3], truth[3]) - max(det[1], truth[1]))
    return ix * iy / _area(truth)


def _inside(point: tuple[float, float], box: Box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def label_detections(dets: list[DetectedChar], truth: list[tuple[str, Box]]) -> list[int]:
    """Class index per detection and probe: the true character it holds, else the reject class.

    A CRAFT detection gets the character it covers most when that covers enough and no second
    character of similar size is covered too (a half or a pair is rejected). Each true character
    goes to at most one detection; the ones left over go to the probe whose box holds their
    centre - exactly what stage 2 must learn to find in a gap.
    """
    labels = [REJECT_INDEX] * len(dets)
    if not truth:
        return labels
    areas = np.array([_area(t) for _, t in truth])
    cover = np.array([[_cover(d.box, t) for _, t in truth] for d in dets]).reshape(len(dets), len(truth))
    taken: set[int] = set()
    for i in np.argsort(-cover.max(axis=1)):
        j = int(cover[i].argmax())
        others = (cover[i] >= COVER_OTHER) & (areas >= SIMILAR_SIZE * areas[j])
        if not dets[i].probe and cover[i, j] >= COVER_MIN and others.sum() == 1 and j not in taken:
            labels[i] = CLASSES.index(truth[j][0])
            taken.add(j)
    centers = [((t[0] + t[2]) / 2, (t[1] + t[3]) / 2) for _, t in truth]
    for i, d in enumerate(dets):
        if d.probe:
            free = [j for j in range(len(truth)) if j not in taken and _inside(centers[j], d.box)]
            if free:
                pc = (d.box[0] + d.box[2]) / 2
                j = min(free, key=lambda j: abs(centers[j][0] - pc))
                labels[i] = CLASSES.index(truth[j][0])
                taken.add(j)
    return labels


@dataclass
class CropSet:
    """Labelled crops with their source image and style, as stored in the cache."""

    crops: np.ndarray  # (N, 32, 32) uint8
    labels: np.ndarray  # (N,) int64 class index
    image: np.ndarray  # (N,) int32 index of the generated image
    style: np.ndarray  # (N,) int16 index into ``styles``
    styles: tuple[str, ...]
    n_truth: int = 0
    """True characters on the source images; with the labelled crops it gives stage-1 recall."""

    @property
    def recall(self) -> float:
        return float((self.labels != REJECT_INDEX).sum()) / max(self.n_truth, 1)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            crops=self.crops,
            labels=self.labels,
            image=self.image,
            style=self.style,
            styles=np.array(self.styles),
            n_truth=self.n_truth,
        )

    @staticmethod
    def load(path: Path) -> CropSet:
        d = np.load(path)
        return CropSet(
            d["crops"], d["labels"], d["image"], d["style"], tuple(str(s) for s in d["styles"]), int(d["n_truth"])
        )

    def select(self, mask: np.ndarray) -> CropSet:
        """The crops where ``mask`` is true (e.g. those of some images: a cross-validation fold's
        training crops); ``n_truth`` is not kept, as it counts whole images."""
        return CropSet(self.crops[mask], self.labels[mask], self.image[mask], self.style[mask], self.styles, 0)

    @staticmethod
    def concat(sets: list[CropSet]) -> CropSet:
        styles = tuple(dict.fromkeys(s for cs in sets for s in cs.styles))
        remap = [np.array([styles.index(s) for s in cs.styles] or [0], np.int16) for cs in sets]
        return CropSet(
            np.concatenate([cs.crops for cs in sets]),
            np.concatenate([cs.labels for cs in sets]),
            np.concatenate([cs.image for cs in sets]),
            np.concatenate([r[cs.style] for r, cs in zip(remap, sets)]),
            styles,
            sum(cs.n_truth for cs in sets),
        )


def detect_crops(
    detector: CharDetector,
    dataset_seed: int,
    start: int,
    count: int,
    progress: Callable[[int], None] | None = None,
) -> CropSet:
    """Run stage 1 on generated images and label every detection it makes."""
    from ocr2stage.synth import STYLES

    crops, labels, image, style, n_truth = [], [], [], [], 0
    for i, sample in generated_samples(dataset_seed, start, count):
        rgb = np.asarray(sample.image.convert("RGB"))
        lines = detector.detect(rgb)
        dets = [ch for line in lines for ch in line.chars]
        n_truth += len(sample.chars)
        if dets:
            crops.append(line_crops(to_gray(rgb), lines))
            labels += label_detections(dets, sample.chars)
            image += [i] * len(dets)
            style += [STYLES.index(sample.meta["style"])] * len(dets)
        if progress is not None:
            progress(1)
    return CropSet(
        np.concatenate(crops) if crops else np.zeros((0, CROP_SIZE, CROP_SIZE), np.uint8),
        np.array(labels, np.int64),
        np.array(image, np.int32),
        np.array(style, np.int16),
        tuple(STYLES),
        n_truth,
    )


def cache_key(detector: CharDetector, *identity: object, sources: tuple[Path, ...] | None = None) -> str:
    """Identity of a crop set: the source of the code that drew and cut it, stage 1's settings and
    weights, and ``identity`` (which images). ``sources``: the modules that drew the images and
    labelled the crops besides stage 1 and the crop cutter (default: the generator's).

    Why the source is hashed: a change to how images are drawn, cut or labelled must not silently
    reuse the old crops.
    """
    import ocr2stage.synth as synth

    h = hashlib.sha256()
    for p in sorted(Path(synth.__file__).parent.glob("*.py")) if sources is None else sources:
        h.update(p.read_bytes())
    here = Path(__file__).resolve().parent
    for p in [here / "crops.py", here / "dataset.py", *sorted((here.parent / "detection").glob("*.py"))]:
        h.update(p.read_bytes())
    h.update(repr((detector.config, detector.checksum, detector.net.precision, *identity)).encode())
    return h.hexdigest()[:16]


def cached_crops(
    detector: CharDetector,
    cache_dir: Path,
    dataset_seed: int,
    start: int,
    count: int,
    progress: Callable[[int], None] | None = None,
) -> CropSet:
    """:func:`detect_crops`, stored under ``cache_dir`` so a re-run of training skips stage 1."""
    key = cache_key(detector, dataset_seed, start, count)
    path = Path(cache_dir) / f"crops-{dataset_seed}-{start}-{count}-{key}.npz"
    if path.exists():
        return CropSet.load(path)
    crop_set = detect_crops(detector, dataset_seed, start, count, progress)
    crop_set.save(path)
    return crop_set
