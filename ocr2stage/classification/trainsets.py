"""Real labelled characters for stage 2, read in place from a ``trainsets`` folder.

Why: the generator draws a few dozen faces; real plates and meters are photographed in faces and
conditions it never draws, and a classifier that has only seen generated glyphs rejects a real
``A`` or reads a real ``D`` as ``0``. Each source is cut the way the reader cuts a character
(:func:`char_rect`: the character's width, its line's height, a quarter of that height as
margin), so the network sees real shapes framed as it will see them at reading time.

The folder's layout (see its README) and what is taken from each part:

- ``openalpr_chars/labels.csv`` (``file,char,country``): binarised single-character crops;
- ``openalpr_chars/*/input/*.box`` with the ``.tif`` page beside it: Tesseract training sheets,
  one box per character, ``y`` counted from the page's bottom;
- ``meter_digits/labels.csv`` (``file,char``): colour counter digits;
- ``br_plates/labels.csv`` (``file,text``): whole plates labelled with their code only, labelled
  per character by :mod:`text_labels` (stage 1 and a classifier's reading aligned to the code).

Every crop is assigned to training or validation by a hash of what identifies its source (a
file, a sheet box, a plate *code*: several photos of one plate must not be split).
"""

from __future__ import annotations

import csv
import hashlib
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ocr2stage.classification.crops import MARGIN, crop, to_gray
from ocr2stage.classification.dataset import CropSet
from ocr2stage.classification.net import CHARSET, CLASSES, CROP_SIZE
from ocr2stage.classification.text_labels import CodeImage, CodeImages
from ocr2stage.images import open_image

Rect = tuple[float, float, float, float]

DEFAULT_TRAINSETS = Path(__file__).resolve().parents[3] / "shared" / "trainsets"
"""Where the repository's sibling ``shared/trainsets`` is (a checkout at ``X/main`` reads ``X/shared``)."""
VAL_SHARE = 10
"""Percent of each source held out for validation (by hash of the source's identity)."""
PARTS = ("openalpr_chars", "meter_digits", "br_plates")


class TrainsetsError(FileNotFoundError):
    """The trainsets folder, or a part of it the recipe needs, is missing or malformed."""


def is_validation(identity: str, share: int = VAL_SHARE) -> bool:
    """Deterministic hold-out: the same source is always on the same side, on every machine."""
    return zlib.crc32(identity.encode()) % 100 < share


def char_rect(box: Rect, line_height: float, line_center_y: float, margin: float = MARGIN) -> Rect:
    """The reader's crop rectangle for a character: its own width, its line's band vertically."""
    pad = margin * line_height
    top = line_center_y - line_height / 2 - pad
    return box[0] - pad, top, box[2] + pad, top + line_height + 2 * pad


def whole_crop(gray: np.ndarray) -> np.ndarray:
    """A single-character image cut as the reader would: the margin around it is filled with the
    image's border colour (its background), not by repeating the edge, where a stroke touching
    the edge would be smeared into a bar the reader never sees."""
    h, w = gray.shape
    pad = int(np.ceil(MARGIN * h))
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(np.median(border)))
    return crop(padded, char_rect((pad, pad, pad + w, pad + h), h, pad + h / 2))


@dataclass
class Split:
    """Crops of one source divided into training and validation."""

    train: CropSet
    val: CropSet


def _crop_set(crops: list[np.ndarray], labels: list[int], image: list[int], style: str) -> CropSet:
    n = len(labels)
    return CropSet(
        np.stack(crops) if crops else np.zeros((0, CROP_SIZE, CROP_SIZE), np.uint8),
        np.array(labels, np.int64),
        np.array(image, np.int32),
        np.zeros(n, np.int16),
        (style,),
        0,
    )


def _split(items: list[tuple[str, np.ndarray, str]], style: str) -> Split:
    """``(identity, crop, char)`` rows -> training and validation crop sets of ``style``."""
    sides: dict[bool, tuple[list[np.ndarray], list[int], list[int]]] = {False: ([], [], []), True: ([], [], [])}
    for i, (identity, c, char) in enumerate(items):
        crops, labels, index = sides[is_validation(identity)]
        crops.append(c)
        labels.append(CLASSES.index(char))
        index.append(i)
    return Split(_crop_set(*sides[False], style), _crop_set(*sides[True], style))


def _gray(path: Path) -> np.ndarray:
    with open_image(path) as im:
        return to_gray(np.asarray(im.convert("RGB")))


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise TrainsetsError(f"{path} is missing")
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def single_chars(
    folder: Path, style_of: Callable[[dict[str, str]], str], images: str = ""
) -> dict[str, list[tuple[str, np.ndarray, str]]]:
    """Rows of a ``file,char`` labels.csv as ``(file, crop, char)`` per style; files are relative
    to ``folder/images``; characters outside the charset are left out."""
    out: dict[str, list[tuple[str, np.ndarray, str]]] = {}
    for row in _rows(folder / "labels.csv"):
        char = row["char"].strip().upper()
        if char in CHARSET:
            crop_ = whole_crop(_gray(folder / images / row["file"]))
            out.setdefault(style_of(row), []).append((row["file"], crop_, char))
    return out


def sheet_boxes(box_file: Path) -> Iterator[tuple[str, Rect]]:
    """``(char, (x0, y0, x1, y1))`` of a Tesseract ``.box`` file, turned to top-down image rows."""
    height = _gray(box_file.with_suffix(".tif")).shape[0]
    for line in box_file.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 5:
            x0, y0, x1, y1 = (float(v) for v in parts[1:5])
            yield parts[0], (x0, height - y1, x1, height - y0)


def sheet_chars(box_file: Path) -> list[tuple[str, np.ndarray, str]]:
    """Every charset character of a training sheet, cut from the band of the row it sits in.

    Why the row's band: a sheet's characters stand in rows like a plate's; the row's median
    height and centre stand in for the line fit the reader makes."""
    gray = _gray(box_file.with_suffix(".tif"))
    boxes = list(sheet_boxes(box_file))
    heights = np.array([b[3] - b[1] for _, b in boxes])
    centres = np.array([(b[1] + b[3]) / 2 for _, b in boxes])
    out = []
    for i, (char, box) in enumerate(boxes):
        char = char.upper()
        if char not in CHARSET or heights[i] <= 1:
            continue
        row = np.abs(centres - centres[i]) < heights[i] / 2
        h, cy = float(np.median(heights[row])), float(np.median(centres[row]))
        out.append((f"{box_file.name}:{i}", crop(gray, char_rect(box, h, cy)), char))
    return out


def check_root(root: Path) -> None:
    """Refuse a folder without the parts a training recipe reads: a smaller run must not pass
    silently for the recipe's."""
    missing = [p for p in PARTS if not (Path(root) / p).is_dir()]
    if missing:
        raise TrainsetsError(f"trainsets folder {root} lacks {', '.join(missing)} (see its README)")


def char_splits(root: Path) -> dict[str, Split]:
    """Training and validation crops of every single-character source under ``root``, by style
    (``openalpr_gb``, ``openalpr_br``, ``sheet_<font>``, ``meter``)."""
    root = Path(root)
    check_root(root)
    sources = single_chars(root / "openalpr_chars", lambda row: f"openalpr_{row['country']}")
    for box_file in sorted((root / "openalpr_chars").glob("*/input/*.box")):
        sources[f"sheet_{box_file.name.split('.')[1]}"] = sheet_chars(box_file)
    sources.update(single_chars(root / "meter_digits", lambda row: "meter", "images"))
    return {style: _split(items, style) for style, items in sorted(sources.items())}


@dataclass
class Plate:
    """A whole-plate photo labelled with its code."""

    file: str
    path: Path
    text: str

    @property
    def validation(self) -> bool:
        return is_validation(self.text, 2 * VAL_SHARE)


def plates(root: Path) -> list[Plate]:
    """The ``br_plates`` photos; validation is chosen by plate code, 20% of codes."""
    folder = Path(root) / "br_plates"
    return [
        Plate(r["file"], folder / "images" / r["file"], r["text"].strip().upper()) for r in _rows(folder / "labels.csv")
    ]


def plate_images(root: Path) -> tuple[list[Plate], CodeImages]:
    """The ``br_plates`` photos and the same as code images to label, identified by the hash of
    their labels and pixels (a changed folder is labelled afresh, not read from the cache)."""
    found = plates(root)
    h = hashlib.sha256((Path(root) / "br_plates" / "labels.csv").read_bytes())
    for p in found:
        h.update(p.path.read_bytes())

    def read() -> Iterator[CodeImage]:
        for p in found:
            with open_image(p.path) as im:
                yield p.file, np.asarray(im.convert("RGB")), p.text

    return found, CodeImages(f"br_plates:{h.hexdigest()[:16]}", read())
