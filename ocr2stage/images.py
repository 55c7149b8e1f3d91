"""Opening image files safely: the one place the library and the harness open an image file.

Why here and not in the harness: the training readers (``ocr2stage train --crops``, the real
trainsets) open files too, and the library never imports the harness.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 40_000_000
"""Images above this are refused per image: a decompression bomb or a mistake, never a code crop."""


class ImageError(ValueError):
    """One image cannot be read; recorded against that image, the run goes on."""


def open_image(path: Path) -> Image.Image:
    """The image opened but not decoded, its size checked from the header; raises ImageError.

    Why: PIL reads only the header when it opens a file, so a decompression bomb (a 30000x30000
    PNG a few kB on disk) is refused here before one pixel is decoded. Every place that opens an
    image (runner, report thumbnails, training readers) goes through this. The caller closes it.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    try:
        with warnings.catch_warnings():  # PIL's own bomb warning becomes the error below
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"image too large: {path.name} (over {MAX_PIXELS:,} pixels; {e})") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"corrupt or unreadable image: {path.name} ({e})") from e
    if im.width * im.height > MAX_PIXELS:
        im.close()
        raise ImageError(f"image too large: {path.name} is {im.width}x{im.height} (over {MAX_PIXELS:,} pixels)")
    return im
