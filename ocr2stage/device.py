"""Device helpers shared by stage 1 (detection) and stage 2 (classification)."""

from __future__ import annotations

import torch


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
