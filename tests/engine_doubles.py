"""Real Tesseract with a fault planted on images of one width: a crash or a hang.

Used only to prove the runner's isolation (an engine process that dies or hangs costs one
image); the accuracy of every real engine is tested on the real engines themselves.
"""

import os
import time

import numpy as np

from bench.engines.base import Reading
from bench.engines.tesseract import TesseractEngine

CRASH_WIDTH, HANG_WIDTH = 301, 302


class FaultyTesseract(TesseractEngine):
    name = "faulty-tesseract"

    def read(self, images: list[np.ndarray]) -> list[Reading]:
        width = images[0].shape[1]
        if width == CRASH_WIDTH:
            os._exit(3)
        if width == HANG_WIDTH:
            time.sleep(3600)
        return super().read(images)


class BrokenLoad(TesseractEngine):
    name = "broken-load"

    def __init__(self, device: str = "cpu") -> None:
        raise RuntimeError("weights exploded")
