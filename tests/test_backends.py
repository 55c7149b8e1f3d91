"""Backends of the two-stage reader (ocr2stage.backends): the choice, ONNX Runtime reading as
PyTorch does, the exported models' cache, and the choice forced from the harness. Real models."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bench.cli import app
from bench.datasets import load_dataset, load_image
from bench.engines import engine_options
from ocr2stage import TwoStageOCR, backends
from ocr2stage.backends import BackendError, resolve
from ocr2stage.classification.crops import line_crops, to_gray
from ocr2stage.device import cpu_isa, native_bf16

CPU = torch.device("cpu")


def test_cpu_isa_names_the_five_instruction_sets() -> None:
    isa = cpu_isa()
    assert set(isa) == {"avx2", "avx512", "bf16", "vnni", "amx"} and all(isinstance(v, bool) for v in isa.values())
    if isa["bf16"] or isa["amx"]:
        assert native_bf16(CPU)


def test_auto_takes_bf16_where_native_else_the_measured_fastest() -> None:
    assert backends.auto("cpu", native=True) == "torch-bf16"
    assert backends.auto("cpu", native=False, vnni=True) == "onnx-int8"
    assert backends.auto("cpu", native=False, vnni=False) == "onnx"
    assert backends.auto("cuda", native=True) == "torch-bf16"
    assert backends.auto("cuda", native=False) == "torch"
    expected = "torch-bf16" if native_bf16(CPU) else "onnx-int8" if cpu_isa()["vnni"] else "onnx"
    assert resolve("auto", CPU) == expected


def test_older_switches_and_forced_backends() -> None:
    assert resolve(None, CPU, bf16=False) == resolve("auto", CPU, bf16=False) == "torch"
    assert resolve("auto", CPU, bf16=True) == "torch-bf16"
    assert resolve("auto", CPU, int8=True) == "torch-int8"
    assert resolve(None, CPU) == ("torch-bf16" if native_bf16(CPU) else "torch")  # the networks loaded alone
    for name in backends.BACKENDS:
        assert resolve(name, CPU, bf16=True) == name  # a named backend wins over the older switch
    with pytest.raises(BackendError, match="unknown backend 'tensorrt'"):
        resolve("tensorrt", CPU)


def test_gpu_paths_that_cannot_run_say_why_without_a_gpu() -> None:
    """``--device cuda``: int8 is CPU only; ONNX on a GPU needs onnxruntime-gpu's CUDA provider."""
    cuda = torch.device("cuda")
    with pytest.raises(BackendError, match="CPU only"):
        resolve("onnx-int8", cuda)
    if "CUDAExecutionProvider" not in backends._providers():
        with pytest.raises(BackendError, match="onnxruntime-gpu"):
            resolve("onnx", cuda)
    assert resolve("torch", cuda) == "torch" and resolve("torch-bf16", cuda) == "torch-bf16"


@pytest.fixture(scope="module")
def serials20() -> list[np.ndarray]:
    ds = load_dataset("serials")
    return [load_image(ds.images_dir / item.file) for item in ds.items[:20]]


@pytest.mark.slow
def test_onnx_reads_the_first_20_serials_as_torch_does(serials20: list[np.ndarray]) -> None:
    """ONNX Runtime float32 computes CRAFT's maps and the classifier's probabilities to ~1e-6 of
    PyTorch's, so every reading is the same text with the same boxes."""
    torch_ocr = TwoStageOCR.from_pretrained(backend="torch")
    onnx_ocr = TwoStageOCR.from_pretrained(backend="onnx")
    assert onnx_ocr.detector.net.precision == "onnx fp32" and onnx_ocr.classifier.precision == "onnx fp32"
    a, b = torch_ocr.read(serials20), onnx_ocr.read(serials20)
    assert [r.text for r in a] == [r.text for r in b]
    for ra, rb in zip(a, b):
        for la, lb in zip(ra.lines, rb.lines):
            assert np.allclose([c.box for c in la.chars], [c.box for c in lb.chars], atol=0.5)
            assert np.allclose([c.confidence for c in la.chars], [c.confidence for c in lb.chars], atol=1e-3)


@pytest.mark.slow
def test_int8_reads_the_first_20_serials_as_float32_does(serials20: list[np.ndarray]) -> None:
    """``onnx-int8`` runs the classifier's convolutions in int8 too: its probabilities move by
    ~0.003 a crop, so no reading changes here (200 of 200 on serials, 295 of 300 plate codes
    when measured); a quantisation that broke a class would change them."""
    fp32 = TwoStageOCR.from_pretrained(backend="onnx")
    int8 = TwoStageOCR.from_pretrained(backend="onnx-int8")
    assert int8.classifier.precision == "onnx int8" and "int8" in int8.detector.net.precision
    crops = np.concatenate([line_crops(to_gray(im), int8.detector.detect(im)) for im in serials20])
    p8, p32 = int8.classifier.probabilities(crops), fp32.classifier.probabilities(crops)
    assert (p8.argmax(1) == p32.argmax(1)).mean() > 0.99 and np.abs(p8 - p32).sum(1).mean() < 0.02
    int8_only = TwoStageOCR(fp32.detector, int8.classifier)
    assert [r.text for r in int8_only.read(serials20)] == [r.text for r in fp32.read(serials20)]


def test_exported_models_are_cached_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first load exports (named by checksum and versions); the second reads the files and
    exports nothing."""
    monkeypatch.setenv("OCR2STAGE_MODEL_CACHE", str(tmp_path))
    first = TwoStageOCR.from_pretrained(backend="onnx")
    files = sorted((tmp_path / "onnx").glob("*.onnx"))
    assert [f.name.split("-")[0] for f in files] == ["classifier", "craft"]
    import onnxruntime

    digest = first.classifier.checksum.removeprefix("sha256:")[:16]
    assert any(digest in f.name and f"ort{onnxruntime.__version__}" in f.name for f in files)
    stamps = [os.stat(f).st_mtime_ns for f in files]

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again although the cache holds the model")

    monkeypatch.setattr(backends, "export", no_export)
    second = TwoStageOCR.from_pretrained(backend="onnx")
    assert [os.stat(f).st_mtime_ns for f in files] == stamps
    image = np.full((64, 256, 3), 255, np.uint8)
    assert [r.text for r in first.read([image])] == [r.text for r in second.read([image])]
    assert not list((tmp_path / "onnx").glob(".*tmp"))


def test_the_backend_is_an_engine_option_and_recorded(clean_dataset: Path, tmp_path: Path) -> None:
    """``--engine-option two-stage.backend=torch`` forces it; engines/two-stage.json records the
    backend, run.json the CPU's instruction sets and threads."""
    assert engine_options(["two-stage.backend=onnx"], ["two-stage"]) == {"two-stage": {"backend": "onnx"}}
    out = tmp_path / "run"
    args = [
        "run",
        "--dataset",
        str(clean_dataset),
        "--engines",
        "two-stage",
        "--out",
        str(out),
        "--no-report",
        "--limit",
        "2",
        "--engine-option",
        "two-stage.backend=torch",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    info = json.loads((out / "engines" / "two-stage.json").read_text())["info"]
    assert info["models"]["backend"] == "torch" and "(fp32)" in info["models"]["detector"]
    machine = json.loads((out / "run.json").read_text())["machine"]
    assert machine["isa"] == cpu_isa() and machine["threads"]["torch"] >= 1


def test_an_unknown_backend_is_refused_by_name() -> None:
    """By the library, and by the CLI's option check before any engine loads (exit 2 there)."""
    with pytest.raises(BackendError, match="backends: auto, torch, torch-bf16"):
        TwoStageOCR.from_pretrained(backend="fast")
    with pytest.raises(ValueError, match="backend is one of auto, torch, torch-bf16, torch-int8, onnx, onnx-int8"):
        engine_options(["two-stage.backend=fast"], ["two-stage"])


def test_the_second_pass_is_bounded_in_area() -> None:
    """A plate-like image whose many small letters (a slogan) would have the second pass upscale
    it 3-4x (to ~1200x600, 1.7 s of CRAFT) is re-read at no more than ``max_area`` pixels, and
    not at all when that bound leaves a change of scale below ``min_rescale`` (here 1.25)."""
    from PIL import Image, ImageDraw, ImageFont

    from ocr2stage.detection import CharDetector, DetectorConfig

    image = Image.new("RGB", (320, 156), "white")
    draw = ImageDraw.Draw(image)
    font = "DejaVuSans-Bold.ttf"
    draw.text((40, 30), "FUW999", fill="black", font=ImageFont.truetype(font, 64))
    draw.text((30, 118), "CELEBRATING STATEHOOD 1959-2009 SINCE", fill="black", font=ImageFont.truetype(font, 9))
    detector = CharDetector(backend="onnx")
    sizes: list[tuple[int, int]] = []
    net = detector.net

    class Recording:
        def __call__(self, img: np.ndarray, size: tuple[int, int]) -> object:
            sizes.append(size)
            return net(img, size)

    detector.net = Recording()  # type: ignore[assignment]
    detector.config = DetectorConfig(max_area=0)
    detector.detect(np.asarray(image))
    bound = DetectorConfig().max_area
    assert bound and max(w * h for w, h in sizes) > 2 * bound, sizes  # unbounded, the slogan sets the scale
    sizes.clear()
    detector.config = DetectorConfig()
    assert detector.detect(np.asarray(image))
    assert all(w * h <= 1.2 * bound for w, h in sizes), sizes
    assert len(sizes) == 1, sizes
    sizes.clear()
    detector.config = DetectorConfig(min_rescale=1.0)
    assert detector.detect(np.asarray(image))
    assert len(sizes) == 2 and sizes[1][0] / sizes[0][0] == 1.25, sizes
