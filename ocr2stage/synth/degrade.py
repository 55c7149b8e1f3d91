"""The camera: perspective, rotation and slant, the ROI crop, then blur, light and sensor faults.

Why boxes are warped as corners: a character box is exact only if it goes through the very same
homography as the pixels, so each box's four corners are mapped and the axis-aligned bound of
the mapped corners is the box in the final image. Photometric faults stay at levels where a
person still reads every character: the benchmark is about machines failing where people don't.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from ocr2stage.geometry import Box

from .materials import linear_ramp, smooth_noise
from .styles import Flat, Meta

MIN_HEIGHT, MAX_HEIGHT = 64, 160
MONO_SHARE = 0.85


def _homography(rng: np.random.Generator, flat: Flat, meta: Meta) -> np.ndarray:
    """Rotation, slant and a perspective tilt about the text centre (pixel-centre coordinates)."""
    boxes = np.array([b for _, b in flat.chars])
    x0, y0 = boxes[:, :2].min(axis=0)
    x1, y1 = boxes[:, 2:].max(axis=0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rotation = float(rng.uniform(-4, 4))
    perspective = float(rng.uniform(0, 0.12))
    src = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    dst = (src + rng.uniform(-1, 1, (4, 2)) * perspective * (y1 - y0)).astype(np.float32)
    tilt = cv2.getPerspectiveTransform(src, dst)
    a, t = np.radians(rotation), np.tan(np.radians(flat.shear_deg))
    centre = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]])
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    shear = np.array([[1, -t, 0], [0, 1, 0], [0, 0, 1]])
    meta.update(rotation_deg=round(rotation, 3), perspective=round(perspective, 4), shear_deg=round(flat.shear_deg, 3))
    return centre @ rot @ shear @ np.linalg.inv(centre) @ tilt


def warp_boxes(chars: list[tuple[str, Box]], hom: np.ndarray) -> list[tuple[str, Box]]:
    """Boxes (pixel-edge coordinates) through ``hom`` (pixel-centre coordinates, as cv2 uses)."""
    out = []
    for ch, (x0, y0, x1, y1) in chars:
        corners = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32) - 0.5
        mapped = cv2.perspectiveTransform(corners, hom)[0] + 0.5
        out.append((ch, (*mapped.min(axis=0).tolist(), *mapped.max(axis=0).tolist())))
    return out


def geometry(
    rng: np.random.Generator, flat: Flat, meta: Meta, max_height: int | None = None
) -> tuple[np.ndarray, list[tuple[str, Box]]]:
    """Warp, crop a camera ROI around the code with uneven margins, and scale into 64-160 px
    (up to ``max_height`` for a tall marking: a container number stacked one character a row)."""
    hom = _homography(rng, flat, meta)
    h, w = flat.image.shape[:2]
    warped = cv2.warpPerspective(flat.image, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    chars = warp_boxes(flat.chars, hom)
    boxes = np.array([b for _, b in chars])
    cap = flat.cap_height
    left, right = rng.uniform(0.25, 1.0, 2) * cap
    top, bottom = rng.uniform(0.2, 0.7, 2) * cap
    cx0 = max(0, int(np.floor(boxes[:, 0].min() - left)))
    cy0 = max(0, int(np.floor(boxes[:, 1].min() - top)))
    cx1 = min(w, int(np.ceil(boxes[:, 2].max() + right)))
    cy1 = min(h, int(np.ceil(boxes[:, 3].max() + bottom)))
    crop = warped[cy0:cy1, cx0:cx1]
    scale = float(np.clip(crop.shape[0], MIN_HEIGHT, max_height or MAX_HEIGHT) / crop.shape[0])
    if scale != 1.0:
        size = (max(1, round(crop.shape[1] * scale)), round(crop.shape[0] * scale))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    sx, sy = crop.shape[1] / (cx1 - cx0), crop.shape[0] / (cy1 - cy0)
    crop_h, crop_w = crop.shape[:2]
    moved = [
        (
            c,
            (
                min(max((x0 - cx0) * sx, 0.0), crop_w),
                min(max((y0 - cy0) * sy, 0.0), crop_h),
                min(max((x1 - cx0) * sx, 0.0), crop_w),
                min(max((y1 - cy0) * sy, 0.0), crop_h),
            ),
        )
        for c, (x0, y0, x1, y1) in chars
    ]
    meta.update(scale=round(scale, 4), width=crop_w, height=crop_h)
    return crop, moved


def _scratches(rng: np.random.Generator, image: np.ndarray, cap: float) -> int:
    """Thin straight scratches, lighter or darker than the surface, some across the code."""
    h, w = image.shape[:2]
    count = int(rng.choice([0, 0, 1, 2, 3]))
    for _ in range(count):
        layer = np.zeros((h, w), np.float32)
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        angle, length = rng.uniform(0, np.pi), rng.uniform(0.5, 3) * cap
        p1 = (int(p0[0] + length * np.cos(angle)), int(p0[1] + length * np.sin(angle)))
        cv2.line(layer, p0, p1, 1.0, 1, cv2.LINE_AA)
        value = 1.0 if rng.random() < 0.6 else 0.0
        alpha = layer[..., None] * rng.uniform(0.2, 0.5)
        image *= 1 - alpha
        image += alpha * value
    return count


def _smudge(rng: np.random.Generator, image: np.ndarray, cap: float) -> float:
    """Sometimes a translucent smudge of dirt or oil (never opaque: characters stay legible)."""
    if rng.random() > 0.3:
        return 0.0
    h, w = image.shape[:2]
    centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
    axes = (int(cap * rng.uniform(0.3, 1.0)), int(cap * rng.uniform(0.2, 0.6)))
    blob = np.zeros((h, w), np.float32)
    cv2.ellipse(blob, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    alpha = float(rng.uniform(0.15, 0.4))
    blob = cv2.GaussianBlur(blob, (0, 0), cap * 0.15) * alpha
    dirt = np.asarray(rng.uniform(0.15, 0.35, 3), np.float32)
    image *= 1 - blob[..., None]
    image += blob[..., None] * dirt
    return round(alpha, 3)


def photometric(rng: np.random.Generator, image: np.ndarray, cap: float, meta: Meta) -> Image.Image:
    """Uneven light, lowered contrast, scratches, smudges, defocus, sensor noise, JPEG.

    Most inspection cameras are monochrome; a ``mono`` image keeps R = G = B (noise included),
    which also lets the data set store it as a one-channel PNG.
    """
    h, w = image.shape[:2]
    illumination = float(rng.uniform(0, 0.35))
    angle = float(rng.uniform(0, 2 * np.pi))
    light = 1 + illumination * linear_ramp(h, w, angle) + 0.05 * smooth_noise(rng, h, w, max(h, w) / 3)
    image = image * light[..., None]
    contrast = float(rng.uniform(0.7, 1.0))
    image = (image - image.mean()) * contrast + image.mean()
    scratches = _scratches(rng, image, cap)
    smudge = _smudge(rng, image, cap)
    blur = float(rng.uniform(0, 1.2))
    blur = blur if blur > 0.2 else 0.0
    if blur:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    camera = "mono" if rng.random() < MONO_SHARE else "color"
    if camera == "mono":
        image = np.repeat(image @ np.array([[0.299], [0.587], [0.114]], np.float32), 3, axis=2)
    noise = float(rng.uniform(0, 0.012))
    grain = rng.normal(0, noise, image.shape[:2] if camera == "mono" else image.shape).astype(np.float32)
    image = image + (grain[..., None] if camera == "mono" else grain)
    pixels = Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    quality = int(rng.integers(35, 91)) if rng.random() < 0.4 else 0
    if quality:
        buffer = io.BytesIO()
        pixels.convert("L" if camera == "mono" else "RGB").save(buffer, "JPEG", quality=quality)
        pixels = Image.open(buffer).convert("RGB")
    meta.update(
        illumination=round(illumination, 4),
        illumination_angle_deg=round(float(np.degrees(angle)), 1),
        contrast=round(contrast, 4),
        scratches=scratches,
        smudge=smudge,
        blur_sigma=round(blur, 3),
        camera=camera,
        noise_sigma=round(noise, 4),
        jpeg_quality=quality,
    )
    return pixels
