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


def cpu_isa() -> dict[str, bool]:
    """The CPU's instruction sets that decide which backend is fastest: avx2, avx512 (F),
    bf16 (AVX512-BF16 or AMX-BF16), vnni (AVX512-VNNI or AVX-VNNI: int8 dot products) and amx.

    Read from /proc/cpuinfo's flags (Linux); elsewhere from torch's CPU capability probes,
    which know avx2/avx512 and the bf16/AMX ones, not VNNI (reported False there)."""
    try:
        with open("/proc/cpuinfo") as f:
            line = next(ln for ln in f if ln.startswith("flags"))
        flags = set(line.split(":", 1)[1].split())
        return {
            "avx2": "avx2" in flags,
            "avx512": "avx512f" in flags,
            "bf16": bool({"avx512_bf16", "amx_bf16"} & flags),
            "vnni": bool({"avx512_vnni", "avx_vnni"} & flags),
            "amx": "amx_tile" in flags,
        }
    except (OSError, StopIteration):
        pass
    capability = ""
    try:
        capability = torch.backends.cpu.get_cpu_capability().lower()
    except (AttributeError, RuntimeError):
        pass
    amx = _probe("_is_amx_tile_supported")
    return {
        "avx2": capability.startswith("avx"),
        "avx512": capability == "avx512",
        "bf16": _probe("_is_avx512_bf16_supported") or amx,
        "vnni": _probe("_is_avx512_vnni_supported"),
        "amx": amx,
    }


def _probe(name: str) -> bool:
    try:
        return bool(getattr(torch.cpu, name)())
    except (AttributeError, RuntimeError):
        return False
