"""Surfaces the codes are marked on, as float32 RGB arrays in [0, 1].

Why procedural: a handful of noise fields (smooth blobs, streaks along one direction, fine grain)
combined per material is enough to give each surface its own look, costs a few milliseconds and
needs no texture files that could not be shipped with the code.
"""

from __future__ import annotations

import cv2
import numpy as np

Color = tuple[float, float, float]


def smooth_noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Zero-mean noise of unit-ish amplitude varying over about ``scale`` pixels."""
    gh, gw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def streaks(rng: np.random.Generator, h: int, w: int, length: int) -> np.ndarray:
    """Zero-mean noise smeared along x over ``length`` pixels: the grain of brushed metal."""
    fine = rng.standard_normal((h, w)).astype(np.float32)
    smeared = cv2.blur(fine, (max(3, length), 1), borderType=cv2.BORDER_REFLECT)
    return smeared / (smeared.std() + 1e-6)


def tint(gray: np.ndarray, color: Color) -> np.ndarray:
    """An RGB image: the gray field multiplied by ``color``."""
    return gray[..., None] * np.asarray(color, np.float32)


def linear_ramp(h: int, w: int, angle: float) -> np.ndarray:
    """A ramp from -1 to 1 across the image along direction ``angle`` (radians)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    proj = (xs - w / 2) * np.cos(angle) + (ys - h / 2) * np.sin(angle)
    return proj / (np.abs(proj).max() + 1e-6)


def brushed_metal(rng: np.random.Generator, h: int, w: int, base: float, color: Color, grain: float) -> np.ndarray:
    """Brushed steel or aluminium: streaks along x, faint waviness, and a specular band."""
    gray = base + grain * streaks(rng, h, w, int(rng.integers(w // 6 + 3, w // 2 + 4)))
    gray += 0.6 * grain * streaks(rng, h, w, 5)
    gray += 0.04 * smooth_noise(rng, h, w, h)
    band = linear_ramp(h, w, rng.uniform(-0.6, 0.6)) - rng.uniform(-0.7, 0.7)
    gray += rng.uniform(0.05, 0.2) * np.exp(-((band / rng.uniform(0.15, 0.5)) ** 2))
    return tint(gray, color)


def rough_surface(rng: np.random.Generator, h: int, w: int, base: float, color: Color, grain: float) -> np.ndarray:
    """Matte, blasted or cast surface: isotropic grain over slow blotches."""
    gray = base + grain * rng.standard_normal((h, w)).astype(np.float32)
    gray += 0.5 * grain * smooth_noise(rng, h, w, 3)
    gray += 0.05 * smooth_noise(rng, h, w, max(8.0, h / 2))
    return tint(gray, color)


def cardboard(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Brown corrugated board: blotchy fibres, a few longer fibres, corrugation shading."""
    base = np.asarray((0.66, 0.52, 0.36), np.float32) * rng.uniform(0.8, 1.1)
    gray = 1 + 0.06 * smooth_noise(rng, h, w, 6) + 0.04 * rng.standard_normal((h, w)).astype(np.float32)
    gray += 0.05 * streaks(rng, h, w, 9) * (rng.random((h, w)) < 0.3)
    flute = rng.uniform(18, 40)
    gray += 0.03 * np.sin(np.arange(h, dtype=np.float32) / flute * 2 * np.pi)[:, None]
    return gray[..., None] * base


def plastic(rng: np.random.Generator, h: int, w: int, color: Color) -> np.ndarray:
    """Moulded plastic: smooth colour, soft shading, very fine grain."""
    gray = 1 + 0.05 * smooth_noise(rng, h, w, max(10.0, h)) + 0.006 * rng.standard_normal((h, w)).astype(np.float32)
    return tint(gray, color)
