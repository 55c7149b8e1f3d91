"""Classifier weight files: a ``.pt`` plus a ``.json`` beside it recording its sha256.

Why a sidecar: the checksum must be known before the file is unpickled, so a truncated or
tampered file is refused with a clear message instead of failing (or loading) half-way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ocr2stage import backends
from ocr2stage.backends import OrtModel
from ocr2stage.checksums import WeightsError, file_digest
from ocr2stage.classification.net import CLASSES, CROP_SIZE, CharNet

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "weights" / "classifier.pt"
CALIBRATION_BATCH = 64
"""Crops per batch when the int8 ranges are calibrated (see :func:`_onnx_file`)."""


def sidecar(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def save_classifier(net: CharNet, path: Path, meta: dict[str, Any]) -> str:
    """Write the weights and their sidecar; return ``sha256:<hex>``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width = net.features[0][0].out_channels  # type: ignore[index]  # nn.Sequential items are typed Module
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "classes": list(CLASSES), "width": width}, path)
    checksum = "sha256:" + file_digest(path, "sha256")
    record = {"file": path.name, "sha256": checksum, "classes": "".join(CLASSES[:-1]), **meta}
    sidecar(path).write_text(json.dumps(record, indent=2) + "\n")
    return checksum


def verify_classifier(path: Path) -> str:
    """Check the weights against their sidecar; return ``sha256:<hex>`` or raise WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"classifier weights missing: {path} does not exist")
    if not sidecar(path).is_file():
        raise WeightsError(f"classifier checksum missing: {sidecar(path)} does not exist")
    expected = json.loads(sidecar(path).read_text()).get("sha256")
    actual = "sha256:" + file_digest(path, "sha256")
    if actual != expected:
        raise WeightsError(f"classifier weights corrupt: {path} has {actual}, {sidecar(path).name} records {expected}")
    return actual


@dataclass
class CharClassifier:
    """A verified classifier on a device: crops -> class probabilities."""

    net: CharNet
    path: Path
    checksum: str
    device: torch.device
    bf16: bool = False
    """Convolutions in bfloat16 (probabilities stay float32): half the time where the hardware has
    it, and the shipped weights were trained so (bf16 autocast) and validated so."""
    onnx: OrtModel | None = None
    """The same network in ONNX Runtime (float32, or int8 convolutions for ``onnx-int8``), used
    instead of ``net`` when set."""

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        device: str = "cpu",
        bf16: bool | None = None,
        backend: str | None = None,
        calibration: Callable[[], np.ndarray] | None = None,
    ) -> CharClassifier:
        """``backend``: one of :data:`ocr2stage.backends.BACKENDS` or ``auto``; the classifier runs
        in PyTorch (bf16 for ``torch-bf16``, else float32) or, for ``onnx*``, in ONNX Runtime:
        float32, and for ``onnx-int8`` with int8 convolutions calibrated on ``calibration()``'s
        (N, 32, 32) uint8 crops (needed then; called only when the quantised file is not cached
        yet). None keeps the older switch ``bf16``: None (default) where the device runs it
        natively (see ``native_bf16``)."""
        path = Path(path) if path is not None else DEFAULT_PATH
        checksum = verify_classifier(path)
        data = torch.load(path, map_location="cpu", weights_only=True)
        if tuple(data["classes"]) != CLASSES:
            raise WeightsError(f"{path}: trained for classes {data['classes']}, this code has {CLASSES}")
        net = CharNet(len(CLASSES), data["width"])
        net.load_state_dict(data["state_dict"])
        dev = torch.device(device)
        chosen = backends.resolve(backend, dev, bf16)
        onnx = None
        if chosen.startswith("onnx"):
            onnx = OrtModel(_onnx_file(net, checksum, calibration if chosen == "onnx-int8" else None), dev)
        return cls(
            net=net.to(dev).eval(), path=path, checksum=checksum, device=dev, bf16=chosen == "torch-bf16", onnx=onnx
        )

    @property
    def precision(self) -> str:
        if self.onnx is not None:
            return "onnx int8" if "int8" in self.onnx.path.name else "onnx fp32"
        return "bf16" if self.bf16 else "fp32"

    @torch.inference_mode()
    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        """(N, 32, 32) uint8 crops -> (N, len(CLASSES)) probabilities, in one forward pass."""
        if len(crops) == 0:
            return np.zeros((0, len(CLASSES)), np.float32)
        if self.onnx is not None:
            return softmax(self.onnx(np.ascontiguousarray(crops[:, None]))[0])
        x = torch.from_numpy(crops)[:, None].to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.net(x)
        return torch.softmax(logits.float(), dim=1).cpu().numpy()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in numpy, float32.

    Why not ``torch.softmax`` after ONNX Runtime: it woke torch's thread pool beside ONNX Runtime's
    for 41 numbers a crop (~4 ms a call on 2 cores, measured while the sessions still spun; 6% of
    a serials read then), and an ONNX path needs no torch tensor at all.
    """
    z = np.exp(logits - logits.max(axis=1, keepdims=True), dtype=np.float32)
    return z / z.sum(axis=1, keepdims=True)


def _onnx_file(net: CharNet, checksum: str, calibration: Callable[[], np.ndarray] | None) -> Path:
    """The classifier as a cached ONNX file (input ``crops`` (N, 1, 32, 32) uint8, output
    ``logits``); with ``calibration``, its convolutions statically quantised to int8.

    Why the convolutions only: they are nearly all of its time (int8 ~0.19 against ~0.52 ms a
    crop in float32 on a 2-core VNNI Xeon); the per-crop standardisation and the last linear
    layer stay float32, which keeps the probabilities a format and the confidence rank by.
    """
    source = backends.cached_model(
        "classifier",
        checksum,
        lambda out: backends.export(
            net.eval(),
            torch.zeros(2, 1, CROP_SIZE, CROP_SIZE, dtype=torch.uint8),
            out,
            ["crops"],
            ["logits"],
            {"crops": {0: "n"}, "logits": {0: "n"}},
        ),
    )
    if calibration is None:
        return source
    get_crops = calibration

    def quantised(out: Path) -> None:
        crops = get_crops()[:, None]
        batches = [crops[i : i + CALIBRATION_BATCH] for i in range(0, len(crops), CALIBRATION_BATCH)]
        backends.quantize(source, out, "crops", batches, lambda node: node.startswith("/features/"))

    return backends.cached_model(f"classifier-int8{backends.int8_tag()}", checksum, quantised)
