"""The two-stage reader: CRAFT finds the characters, the CNN reads each one.

Usable without the benchmark harness::

    from ocr2stage import TwoStageOCR
    results = TwoStageOCR.from_pretrained(device="cpu").read([rgb_uint8_array])
    print(results[0].text)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocr2stage.backends import AUTO
from ocr2stage.classification.crops import calibration_crops, line_crops, to_gray
from ocr2stage.classification.net import CLASSES, CROP_SIZE, REJECT
from ocr2stage.classification.second_look import second_look
from ocr2stage.classification.weights import CharClassifier
from ocr2stage.decoding import Alternatives, Decoded, decode_lattice
from ocr2stage.detection import CharDetector, DetectedLine, DetectorConfig, union_box
from ocr2stage.formats import Format
from ocr2stage.geometry import Box


@dataclass(frozen=True)
class CharResult:
    """One classified character; ``uncertain`` when its probability is below the threshold."""

    text: str
    box: Box
    confidence: float
    uncertain: bool


@dataclass(frozen=True)
class LineResult:
    """One line; ``confidence`` is :func:`line_confidence` of its lattice, as one close call spoils
    a code. ``lattice``: every box of the line in reading order with its likely readings (see
    :func:`alternatives`), rejected boxes included: what a format decodes from."""

    text: str
    box: Box
    confidence: float
    chars: tuple[CharResult, ...]
    lattice: tuple[Alternatives, ...] = ()


@dataclass(frozen=True)
class OCRResult:
    """Everything read on one image, lines top to bottom; ``constrained``: the reading under the
    format :meth:`TwoStageOCR.read` was given (None without one)."""

    lines: tuple[LineResult, ...] = ()
    constrained: Decoded | None = None

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


def as_rgb(image: object) -> np.ndarray | None:
    """The image as an RGB uint8 array, or None when it cannot hold a character at all."""
    try:
        arr = np.asarray(image)
    except (TypeError, ValueError):
        return None
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
        return None
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr[..., :3])


SEPARATORS = "-./:"


def _merge_echoes(chars: list[CharResult]) -> list[CharResult]:
    """Merge a separator into the same separator just before it.

    Why: CRAFT sometimes splits a long dash in two, and a probe beside a detected ``-`` sees part
    of the same dash; codes never repeat a separator, so the second one is that dash again.
    """
    out: list[CharResult] = []
    for c in chars:
        if out and c.text in SEPARATORS and out[-1].text == c.text:
            prev = out.pop()
            conf = max(prev.confidence, c.confidence)
            c = CharResult(c.text, union_box([prev.box, c.box]), conf, prev.uncertain and c.uncertain)
        out.append(c)
    return out


def _label(p: np.ndarray, probe: bool, probe_accept: float) -> int:
    """Class index of one crop. A gap probe keeps its best character when that reaches
    ``probe_accept`` although ``<reject>`` scores higher: nearly all probes are empty, so the
    reject class wins the close calls, and those are mostly a real ``.`` or a thin ``1``
    (chosen on generated codes with the previous weights: 0.3 recovered 6 of 16 such characters
    for 1 false one in 3,565 empty probes; with the shipped ones, 4 of 15 for 0 in 3,563)."""
    best = int(p.argmax())
    if probe and CLASSES[best] == REJECT:
        char = int(p[:-1].argmax())
        if p[char] >= probe_accept:
            return char
    return best


LATTICE_MIN, LATTICE_MAX = 1e-3, 8
"""A box's lattice keeps its ``LATTICE_MAX`` most probable readings of at least ``LATTICE_MIN``;
the others are impossible to a format. Why: the classifier spreads over 1e-4 on nearly every
class (39 of 41 readings per box on serials), which made decoding ~5x slower and stored
predictions ~5x larger for readings no format should force."""


def alternatives(p: np.ndarray, probe: bool, probe_accept: float) -> Alternatives:
    """A box's readings with their probabilities, ``""`` for ``<reject>``, most probable first.
    A gap probe's reject probability is scaled by ``probe_accept / (1 - probe_accept)`` (and the
    rest renormalised) so that a format weighs a probe's character as :func:`_label` does."""
    if probe:
        p = p.copy()
        p[-1] *= probe_accept / (1 - probe_accept)
        p /= p.sum()
    idx = np.nonzero(p >= LATTICE_MIN)[0]
    idx = idx[np.argsort(-p[idx])][:LATTICE_MAX]
    return tuple(("" if CLASSES[i] == REJECT else CLASSES[i], round(float(p[i]), 6)) for i in idx)


def line_confidence(lattice: Sequence[Alternatives]) -> float:
    """The smallest margin between a box's most and second most probable reading, over every box
    of the line, rejected boxes included.

    Why not the weakest kept character's probability: a character dropped as ``<reject>`` leaves
    no kept character to doubt, yet is the commonest error on real plates (a thin ``1`` lost),
    and a character read at 0.7 against a look-alike at 0.29 is a closer call than one at 0.6
    whose rest is spread thin. Chosen on validation sets by the area under the risk-coverage
    curve (generated dev codes 0.052 against 0.066 for the weakest character, held-out
    ``br_plates`` photos 0.204 against 0.224, generated dev containers 0.151 against 0.176).
    """
    return min((a[0][1] - (a[1][1] if len(a) > 1 else 0.0) for a in lattice if a), default=0.0)


def assemble_line(
    line: DetectedLine,
    probs: np.ndarray,
    uncertain_below: float,
    space_gap: float,
    space_advance: float,
    probe_accept: float,
) -> LineResult | None:
    """Classified characters of one line -> its text; rejected crops dropped, spaces at gaps.

    A space needs both an empty gap wider than ``space_gap`` line heights and a centre-to-centre
    step longer than ``space_advance`` times the line's typical one: either alone confuses the
    wide side bearings of a ``1`` or ``:`` in a monospaced font with a space (measured on
    generated codes, the pair errs on ~0.2% of gaps).
    """
    chars: list[CharResult] = []
    lattice: list[Alternatives] = []
    for ch, p in zip(line.chars, probs):
        best = _label(p, ch.probe, probe_accept)
        echo = bool(chars) and CLASSES[best] in SEPARATORS and chars[-1].text == CLASSES[best]
        if not echo:  # a format sees the dash CRAFT split in two once, as the text does
            lattice.append(alternatives(p, ch.probe, probe_accept))
        if CLASSES[best] != REJECT:
            conf = float(p[best])
            chars.append(CharResult(CLASSES[best], ch.box, conf, conf < uncertain_below))
    chars = _merge_echoes(chars)
    if not chars:
        return None
    centers = np.array([(c.box[0] + c.box[2]) / 2 for c in chars])
    advance = float(np.median(np.diff(centers))) if len(chars) > 1 else 0.0
    text = chars[0].text
    for a, b, step in zip(chars, chars[1:], np.diff(centers)):
        if b.box[0] - a.box[2] > space_gap * line.fit.height and step > space_advance * advance:
            text += " "
        text += b.text
    return LineResult(text, union_box([c.box for c in chars]), line_confidence(lattice), tuple(chars), tuple(lattice))


@dataclass(frozen=True)
class ReaderConfig:
    """Settings of stage 2 and of line assembly, beside stage 1's :class:`DetectorConfig`
    (defaults tuned on generated serial codes)."""

    uncertain_below: float = 0.6
    """A character whose probability is below this is marked ``uncertain``."""
    space_gap: float = 0.45
    """A gap wider than this many line heights (and a wide step, ``space_advance``) is a space."""
    space_advance: float = 1.4
    """... and a centre step above this many median steps of the line (see :func:`assemble_line`)."""
    probe_accept: float = 0.3
    """A probe in a gap reads as a character with at least this probability (see :func:`_label`)."""
    second_look: bool = True
    """False skips :func:`second_look` (3-5 ms per code image, more on a cluttered plate photo,
    for +1.8 points on ``serials``)."""


class TwoStageOCR:
    """Stage 1 (:class:`CharDetector`) composed with stage 2 (:class:`CharClassifier`)."""

    def __init__(self, detector: CharDetector, classifier: CharClassifier, config: ReaderConfig | None = None) -> None:
        """``config``: stage 2's settings (default :class:`ReaderConfig`)."""
        self.detector = detector
        self.classifier = classifier
        self.config = ReaderConfig() if config is None else config

    @classmethod
    def from_pretrained(
        cls,
        device: str = "cpu",
        classifier_path: Path | None = None,
        craft_path: Path | None = None,
        config: DetectorConfig | None = None,
        bf16: bool | None = None,
        int8: bool = False,
        reader_config: ReaderConfig | None = None,
        backend: str = AUTO,
    ) -> TwoStageOCR:
        """Load verified CRAFT (md5) and the shipped or given classifier (sha256).

        ``backend`` (:mod:`ocr2stage.backends`): ``auto`` (default) runs both networks in bf16
        where the hardware has it natively, else in the fastest runtime measured for the device
        (on a CPU ONNX Runtime, CRAFT's backbone in int8 where the CPU has VNNI); or one of
        ``torch``, ``torch-bf16``, ``torch-int8``, ``onnx``, ``onnx-int8``. The older switches still
        work with ``auto``: ``bf16`` False forces PyTorch float32, True PyTorch bf16; ``int8`` is
        ``torch-int8``.
        ``config`` is stage 1's settings, ``reader_config`` stage 2's."""
        detector = CharDetector(craft_path, device, config, bf16, int8, backend)
        classifier = CharClassifier.load(
            classifier_path, device, bf16, detector.net.backend, lambda: calibration_crops(detector)
        )
        return cls(detector, classifier, reader_config)

    @property
    def backend(self) -> str:
        """The backend both networks run on (see :mod:`ocr2stage.backends`)."""
        return self.detector.net.backend

    @property
    def checksums(self) -> dict[str, str]:
        """Weight file name -> checksum, for every file this reader loaded."""
        return {
            self.detector.net.path.name: self.detector.checksum,
            self.classifier.path.name: self.classifier.checksum,
        }

    def read(self, images: Sequence[object], format: Format | Sequence[Format | None] | None = None) -> list[OCRResult]:
        """Read a batch: stage 1 per image, then every crop of the batch in one forward pass, and
        a second one where nothing was read (see :func:`second_look`), unless switched off.

        ``format`` (one for the batch or one per image): each result's ``constrained`` is the most
        probable code of all its lines (top to bottom, whitespace ignored) that the format and its
        check accept, or a no-read with the reason (:func:`ocr2stage.decoding.decode_lattice`);
        the lines themselves are read as without a format."""
        cfg = self.config
        rgbs = [as_rgb(im) for im in images]
        detections = [[] if rgb is None else self.detector.detect(rgb) for rgb in rgbs]
        grays = [to_gray(rgb) if rgb is not None and lines else None for rgb, lines in zip(rgbs, detections)]
        crops = [line_crops(gray, lines) for gray, lines in zip(grays, detections) if gray is not None]
        probs = self.classifier.probabilities(
            np.concatenate(crops) if crops else np.zeros((0, CROP_SIZE, CROP_SIZE), np.uint8)
        )
        if cfg.second_look:
            chars = [ch for lines in detections for line in lines for ch in line.chars]
            labels = np.array([_label(p, ch.probe, cfg.probe_accept) for ch, p in zip(chars, probs)], dtype=int)
            detections, probs = second_look(grays, detections, probs, labels, self.classifier.probabilities)
        results, k = [], 0
        for lines in detections:
            out = []
            for line in lines:
                n = len(line.chars)
                res = assemble_line(
                    line, probs[k : k + n], cfg.uncertain_below, cfg.space_gap, cfg.space_advance, cfg.probe_accept
                )
                k += n
                if res is not None:
                    out.append(res)
            results.append(OCRResult(tuple(out)))
        if format is None:
            return results
        formats = [format] * len(results) if isinstance(format, Format) else list(format)
        if len(formats) != len(results):
            raise ValueError(f"{len(formats)} formats for {len(results)} images")
        return [
            r if f is None else OCRResult(r.lines, decode_lattice([a for ln in r.lines for a in ln.lattice], f))
            for r, f in zip(results, formats)
        ]
