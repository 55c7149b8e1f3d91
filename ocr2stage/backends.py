"""How the reader's two networks run: PyTorch or ONNX Runtime, float32, bfloat16 or int8.

Backend names (``TwoStageOCR.from_pretrained(backend=...)``, ``--engine-option two-stage.backend=...``):

- ``auto`` (default): ``torch-bf16`` where the device runs bfloat16 natively (AVX512-BF16 or AMX
  CPUs, Ampere and newer GPUs); else, on a CPU, ``onnx-int8`` where it has int8 dot products
  (VNNI) and ``onnx`` elsewhere (:func:`auto`); ``torch`` on a GPU without bf16.
- ``torch``: PyTorch, float32.
- ``torch-bf16``: PyTorch, CRAFT's backbone and the classifier's convolutions in bfloat16 autocast.
- ``torch-int8``: PyTorch, CRAFT's backbone in int8 (FX, x86 kernels); classifier float32.
- ``onnx``: ONNX Runtime, both networks float32 (same numbers as ``torch`` to ~1e-6).
- ``onnx-int8``: ONNX Runtime, CRAFT's backbone and the classifier's convolutions statically
  quantised to int8 (calibrated on generated images, :data:`INT8_CALIBRATION`); CRAFT's U-net
  and the classifier's input standardisation and last layer float32.

Exported models are cached (:func:`model_cache`) under a name holding the weights' checksum and
the torch and onnxruntime versions, so only the first load of a new combination exports.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ocr2stage.device import cpu_isa, native_bf16

BACKENDS = ("torch", "torch-bf16", "torch-int8", "onnx", "onnx-int8")
AUTO = "auto"
AUTO_CPU = {True: "onnx-int8", False: "onnx"}
"""What ``auto`` runs on a CPU without native bf16, by whether it has VNNI. Measured on a 2-core
AVX512-VNNI Xeon without bf16, interleaved with PyTorch float32 on the same images (docs/speed.md):
ONNX Runtime float32 0.61x its whole-reader p50 with every reading the same, int8 0.41x with
98.3% of readings the same on serials. Without VNNI int8 is not measured yet: float32 there."""
INT8_CALIBRATION = (1, 32)
"""Generated images (training seed, count) that calibrate both networks' int8 ranges: CRAFT on
their first-pass inputs, the classifier on the crops stage 1 cuts from them."""
FORMAT = 1
"""Bumped when an export changes, so that cached files of the old one are not used."""


class BackendError(ValueError):
    """A backend that does not exist or cannot run on the device asked for."""


def resolve(backend: str | None, device: torch.device, bf16: bool | None = None, int8: bool = False) -> str:
    """The concrete backend: ``backend`` itself, or what ``auto`` picks on ``device``.

    ``bf16``/``int8`` are the older switches: None/False leave the choice to ``backend``;
    ``int8=True`` is ``torch-int8``, ``bf16=True`` ``torch-bf16``, ``bf16=False`` ``torch``
    (float32) when ``backend`` is None or ``auto``.
    """
    if backend in (None, AUTO):
        if int8:
            backend = "torch-int8"
        elif bf16 is not None:
            backend = "torch-bf16" if bf16 else "torch"
        elif backend is None:  # the networks' own default, kept for callers that load them alone
            backend = "torch-bf16" if native_bf16(device) else "torch"
        else:
            backend = auto(device.type, native_bf16(device))
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; backends: {AUTO}, {', '.join(BACKENDS)}")
    if device.type != "cpu" and backend.endswith("int8"):
        raise BackendError(f"backend {backend} runs on the CPU only, not on {device}")
    if backend.startswith("onnx") and device.type == "cuda" and "CUDAExecutionProvider" not in _providers():
        raise BackendError(
            f"backend {backend} on {device} needs onnxruntime-gpu (CUDAExecutionProvider); "
            f"this onnxruntime offers {', '.join(_providers())}"
        )
    return backend


def auto(device_type: str, native: bool, vnni: bool | None = None) -> str:
    """What ``auto`` runs: bf16 where it is native, else the fastest path measured for the CPU
    (``vnni`` None: this CPU's), PyTorch float32 on a GPU without bf16."""
    if native:
        return "torch-bf16"
    if device_type != "cpu":
        return "torch"
    return AUTO_CPU[cpu_isa()["vnni"] if vnni is None else vnni]


def _providers() -> list[str]:
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def model_cache() -> Path:
    """Where exported models are kept: ``$OCR2STAGE_MODEL_CACHE``, else ``~/.cache/ocr2stage``."""
    return Path(os.environ.get("OCR2STAGE_MODEL_CACHE") or Path.home() / ".cache" / "ocr2stage")


def cached_model(kind: str, checksum: str, make: Callable[[Path], None]) -> Path:
    """The cached ONNX file of ``kind`` for weights ``checksum``, made by ``make(path)`` if missing.

    Why the versions in the name: an export depends on torch's exporter, and onnxruntime may
    refuse or mis-run a file from another version; a new version makes a new file. Written to a
    temporary name and renamed, so that workers loading at once never read half a file.
    """
    import onnxruntime

    digest = checksum.rpartition(":")[2][:16]
    name = f"{kind}-{digest}-torch{torch.__version__.split('+')[0]}-ort{onnxruntime.__version__}-f{FORMAT}.onnx"
    path = model_cache() / "onnx" / name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            make(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def export(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    inputs: Sequence[str],
    outputs: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
) -> None:
    """``module`` (float32, in eval mode) to an ONNX file, TorchScript exporter, opset 17."""
    torch.onnx.export(
        module,
        (example,),
        str(path),
        input_names=list(inputs),
        output_names=list(outputs),
        dynamic_axes=dynamic_axes,
        opset_version=17,
        dynamo=False,
    )


def quantize(
    source: Path, target: Path, input_name: str, calibration: Sequence[np.ndarray], include: Callable[[str], bool]
) -> None:
    """Static int8 quantisation (QDQ, per-channel weights, min-max activation ranges from
    ``calibration``) of the nodes whose names ``include`` accepts.

    Why a reduced range without VNNI: there, the u8 x s8 kernels add pairs of products in 16
    bits and can saturate; 7-bit weights cannot.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self.items, None)
            return None if x is None else {input_name: x}

    nodes = [n.name for n in onnx.load(str(source)).graph.node]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_static advises a pre-processing step on the root logger
    try:
        quantize_static(
            str(source),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=not cpu_isa()["vnni"],
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=[n for n in nodes if not include(n)],
        )
    finally:
        root.setLevel(level)


def int8_tag() -> str:
    """What an int8 file's cache name adds: its calibration images and, on a CPU without VNNI,
    the reduced range (see :func:`quantize`)."""
    seed, count = INT8_CALIBRATION
    return f"-s{seed}n{count}" + ("" if cpu_isa()["vnni"] else "-r7")


class OrtModel:
    """An ONNX file in an ONNX Runtime session: numpy inputs in, numpy outputs out.

    Threads: as many as torch uses in this process (the harness divides the cores between
    workers by setting torch's threads), one inter-op thread, and no spinning: by default a
    session's threads spin-wait after each run, and the reader alternates between two sessions
    (CRAFT, classifier) and Python work, so the idle session's spinning threads took the cores
    from the working one. Measured on 2 cores (serials first 100, twice each, a niced process
    running beside): whole-read p50 66-70 ms spinning, 37-40 ms without, CRAFT's share 41-47
    against 25 ms.
    """

    def __init__(self, path: Path, device: torch.device) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list[Any] = ["CPUExecutionProvider"]
        if device.type == "cuda":
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        self.path = path
        self.session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input: x})
