"""One renderer per marking technology: code text -> flat (not yet warped) image and boxes.

Why per technology: what makes a code hard to read differs by how it was put on the part
(low-contrast laser marks on shiny metal, broken dot-matrix strokes, relief that only shading
shows, segment glyphs with ghost segments), so each style models its own process and records
its parameters in ``meta``; the shared camera degradations come afterwards (``degrade``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ocr2stage.geometry import Box

from .codes import pick, random_code, registration
from .fonts import font_for_cap_height
from .glyphs import DOT_ROWS, DotPrint, Layout, font_layout, layout
from .materials import Color, brushed_metal, cardboard, plastic, rough_surface, smooth_noise

Meta = dict[str, str | float | int]
# Fonts each style draws from (a font listed twice is drawn twice as often).
LASER_ETCHED_FONTS = ("liberation_sans", "dejavu_sans", "ocra", "liberation_mono", "dejavu_mono", "liberation_narrow")
THERMAL_LABEL_FONTS = (
    "liberation_sans_bold",
    "dejavu_sans_bold",
    "ocrb",
    "liberation_mono_bold",
    "dejavu_mono_bold",
    "liberation_narrow_bold",
    "liberation_sans",
)
EMBOSSED_FONTS = (
    "dejavu_sans_bold",
    "liberation_sans_bold",
    "ocra",
    "liberation_mono_bold",
    "dejavu_mono_bold",
    "liberation_narrow_bold",
)
OCR_FONT_FONTS = (
    "ocra",
    "ocrb",
    "ocra",
    "ocrb",
    "liberation_narrow",
    "liberation_narrow_bold",
    "dejavu_sans",
    "liberation_mono",
)
MARGIN_CAPS = 2.0  # blank around the text, in cap heights: room for warps and crop margins


@dataclass
class Flat:
    """A rendered code before the camera: image (float32 HxWx3 in [0, 1]) and its char boxes.

    ``shear_deg`` is a slant the style asks the geometric stage to apply (inkjet heads print
    slanted on a moving product), so that boxes are tracked through it like any other warp.
    """

    image: np.ndarray
    text: str
    chars: list[tuple[str, Box]]
    cap_height: float
    meta: Meta = field(default_factory=dict)
    shear_deg: float = 0.0


MAX_LINE_WIDTH = 480  # px; a long code is smaller in a camera's fixed field of view


def _cap_height(rng: np.random.Generator, text: str) -> int:
    """Capital height in pixels: a one-line ROI is 64-160 px tall, two lines share it, and a
    long line gets smaller capitals (a character is about 0.75 cap heights wide)."""
    cap = int(rng.integers(18, 33)) if "\n" in text else int(rng.integers(24, 45))
    longest = max(len(line) for line in text.split("\n"))
    return max(18, min(cap, int(MAX_LINE_WIDTH / (0.75 * longest))))


def _font_block(rng: np.random.Generator, style: str, fonts: tuple[str, ...]) -> tuple[str, Layout, Meta]:
    """A random code laid out in one of ``fonts`` (random size, tracking, line gap, alignment),
    with the meta every font-based style starts from."""
    text, kind = random_code(rng)
    cap = _cap_height(rng, text)
    font = pick(rng, fonts)
    lay = font_layout(
        text.split("\n"),
        font,
        cap,
        tracking=cap * rng.uniform(0.0, 0.2),
        line_gap=rng.uniform(0.3, 0.7),
        margin=int(MARGIN_CAPS * cap),
        align=pick(rng, ("left", "left", "center")),
    )
    return text, lay, {"style": style, "kind": kind, "font": font, "cap_height": cap}


def _over(bg: np.ndarray, color: np.ndarray | Color, alpha: np.ndarray) -> np.ndarray:
    """``color`` laid over ``bg`` with coverage ``alpha`` (HxW)."""
    a = np.clip(alpha, 0.0, 1.0)[..., None]
    return bg * (1 - a) + np.asarray(color, np.float32) * a


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(a, (0, 0), sigma) if sigma > 0.05 else a


def _flat(image: np.ndarray, text: str, lay: Layout, meta: Meta, shear_deg: float = 0.0) -> Flat:
    return Flat(np.clip(image, 0, 1).astype(np.float32), text, lay.chars, lay.cap_height, meta, shear_deg)


def laser_etched(rng: np.random.Generator) -> Flat:
    """Laser marking on brushed steel or aluminium: dark annealing marks or frosted light
    engraving, low contrast, grain along one direction and a specular band that lowers the
    contrast where it passes."""
    text, lay, meta = _font_block(rng, "laser_etched", LASER_ETCHED_FONTS)
    h, w = lay.mask.shape
    material = pick(rng, ("steel", "aluminium"))
    color = (1.0, 0.99, 0.97) if material == "steel" else (0.95, 0.98, 1.03)
    base = rng.uniform(0.45, 0.68)
    grain = rng.uniform(0.025, 0.06)
    bg = brushed_metal(rng, h, w, base, color, grain)
    mark = pick(rng, ("dark", "light"))
    strength = rng.uniform(0.3, 0.55) if mark == "dark" else rng.uniform(0.25, 0.4)
    ink = _blur(lay.mask, rng.uniform(0.4, 0.9)) * (1 + 0.25 * smooth_noise(rng, h, w, 2))
    if mark == "dark":
        image = bg * (1 - strength * np.clip(ink, 0, 1))[..., None]
    else:  # frosted marks scatter light: brighter than the surface even under the specular band
        image = bg + strength * np.clip(ink, 0, 1)[..., None]
        image /= max(1.0, float(np.percentile(image, 99.9)))  # the camera's exposure control
    meta.update(material=material, mark=mark, mark_strength=round(strength, 3), grain=round(grain, 4))
    return _flat(image, text, lay, meta)


SUBSTRATES: dict[str, Color] = {
    "white_plastic": (0.9, 0.9, 0.88),
    "blue_plastic": (0.2, 0.35, 0.65),
    "red_plastic": (0.7, 0.15, 0.12),
    "green_plastic": (0.25, 0.5, 0.3),
    "yellow_plastic": (0.9, 0.78, 0.2),
    "grey_plastic": (0.55, 0.56, 0.57),
    "black_plastic": (0.1, 0.1, 0.11),
}


def dot_matrix(rng: np.random.Generator) -> Flat:
    """Continuous-inkjet 5x7 dot-matrix print on cardboard or plastic: dots that wander, vary,
    go missing or merge, ink that spreads into the board, and a slant from the moving product."""
    text, kind = random_code(rng)
    cap = _cap_height(rng, text)
    pitch = cap / DOT_ROWS
    dots = DotPrint(
        pitch=pitch, radius=rng.uniform(0.3, 0.6), jitter=rng.uniform(0.0, 0.1), missing=rng.uniform(0.0, 0.02)
    )
    lay = layout(
        text.split("\n"),
        dots.glyph_source(rng),
        cap_height=cap,
        line_pitch=cap * rng.uniform(1.3, 1.6),
        tracking=pitch * rng.uniform(0.0, 1.2),
        space_advance=pitch * 6,
        margin=int(MARGIN_CAPS * cap),
    )
    h, w = lay.mask.shape
    substrate = pick(rng, ("cardboard", "cardboard", *SUBSTRATES))
    bg = cardboard(rng, h, w) if substrate == "cardboard" else plastic(rng, h, w, SUBSTRATES[substrate])
    if substrate in ("black_plastic", "blue_plastic", "red_plastic", "green_plastic"):
        ink_color: Color = (0.95, 0.92, 0.6) if rng.random() < 0.5 else (0.93, 0.93, 0.92)
    else:
        ink_color = (0.05, 0.05, 0.08) if rng.random() < 0.7 else (0.08, 0.1, 0.3)
    spread = rng.uniform(0.8, 1.6) if substrate == "cardboard" else rng.uniform(0.3, 0.9)
    alpha = _blur(lay.mask, spread) * rng.uniform(0.75, 0.95)
    shear = float(rng.uniform(-12, 12)) if rng.random() < 0.6 else 0.0
    meta: Meta = {
        "style": "dot_matrix",
        "kind": kind,
        "font": "dot_matrix_5x7",
        "cap_height": cap,
        "substrate": substrate,
        "dot_pitch": round(pitch, 3),
        "dot_radius": round(dots.radius, 3),
        "dot_jitter": round(dots.jitter, 3),
        "dot_missing": round(dots.missing, 4),
        "ink_spread": round(spread, 3),
    }
    return _flat(_over(bg, ink_color, alpha), text, lay, meta, shear)


def _text_bound(chars: list[tuple[str, Box]]) -> Box:
    boxes = np.array([b for _, b in chars])
    return float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max())


def _barcode(rng: np.random.Generator, h: int, w: int, bound: Box, cap: float) -> tuple[np.ndarray, str]:
    """Coverage of barcode-like bars above or below the text, a clear gap away from it."""
    x0, y0, x1, y1 = bound
    bars = np.zeros((h, w), np.float32)
    module = max(1, round(cap / 12))
    side = pick(rng, ("above", "below"))
    gap, tall = cap * rng.uniform(0.5, 0.8), cap * rng.uniform(0.8, 1.6)
    top = y1 + gap if side == "below" else y0 - gap - tall
    x = int(x0 + rng.uniform(-1, 1) * cap)
    end = int(min(w, x1 + rng.uniform(-1, 1) * cap))
    dark = True
    while x < end:
        width = module * int(rng.integers(1, 4))
        if dark:
            bars[max(0, int(top)) : max(0, int(top + tall)), x : x + width] = 1.0
        x += width
        dark = not dark
    return bars, side


def thermal_label(rng: np.random.Generator) -> Flat:
    """Thermal-transfer print on a white label stuck on a box: crisp black glyphs, a little
    softness, a label edge with the package beyond it, barcode bars and printhead dropouts."""
    text, lay, meta = _font_block(rng, "thermal_label", THERMAL_LABEL_FONTS)
    h, w = lay.mask.shape
    cap = lay.cap_height
    bound = _text_bound(lay.chars)
    paper = rng.uniform(0.88, 0.97)
    label = plastic(rng, h, w, (paper, paper, paper * rng.uniform(0.96, 1.0)))
    ink = lay.mask.copy()
    bars_side = "none"
    if rng.random() < 0.7:
        bars, bars_side = _barcode(rng, h, w, bound, cap)
        ink = np.maximum(ink, bars)
    dropouts = int(rng.integers(0, 3))
    for y in rng.integers(int(bound[1]), int(bound[3]), size=dropouts):
        ink[y] *= 0.35
    image = _over(label, (0.06, 0.06, 0.07), _blur(ink, rng.uniform(0.3, 0.7)) * rng.uniform(0.85, 1.0))
    edge = pick(rng, ("top", "bottom", "left", "right"))
    inside = _label_inside(h, w, bound, cap * rng.uniform(0.35, 0.9), edge)
    package = cardboard(rng, h, w) if rng.random() < 0.6 else plastic(rng, h, w, SUBSTRATES["grey_plastic"])
    shadow = 1 - 0.35 * (1 - _blur(inside, cap * 0.08))
    image = _over(package * shadow[..., None], image, inside)
    meta.update(paper=round(paper, 3), bars=bars_side, dropouts=dropouts, label_edge=edge)
    return _flat(image, text, lay, meta)


def _label_inside(h: int, w: int, bound: Box, gap: float, edge: str) -> np.ndarray:
    """1 on the label, 0 beyond its ``edge`` side, which lies ``gap`` px outside the text."""
    inside = np.ones((h, w), np.float32)
    x0, y0, x1, y1 = (round(v) for v in bound)
    g = round(gap)
    if edge == "top":
        inside[: max(0, y0 - g)] = 0
    elif edge == "bottom":
        inside[y1 + g :] = 0
    elif edge == "left":
        inside[:, : max(0, x0 - g)] = 0
    else:
        inside[:, x1 + g :] = 0
    return _blur(inside, 0.7)


PLATES: dict[str, tuple[float, Color]] = {
    "steel": (0.55, (1.0, 1.0, 0.98)),
    "cast_iron": (0.36, (1.0, 0.98, 0.95)),
    "painted_blue": (0.45, (0.45, 0.6, 0.95)),
    "painted_green": (0.45, (0.5, 0.8, 0.55)),
    "brass": (0.6, (1.0, 0.85, 0.5)),
}


def embossed(rng: np.random.Generator) -> Flat:
    """Stamped (sunk) or embossed (raised) characters in a metal plate: no ink at all, only
    relief lit from one side, so strokes show as a bright and a dark edge; depth varies with
    the stamping pressure and sunk marks collect dirt."""
    text, lay, meta = _font_block(rng, "embossed", EMBOSSED_FONTS)
    h, w = lay.mask.shape
    cap = lay.cap_height
    plate = pick(rng, tuple(PLATES))
    base, color = PLATES[plate]
    bg = rough_surface(rng, h, w, base * rng.uniform(0.85, 1.15), color, rng.uniform(0.015, 0.04))
    relief = pick(rng, ("stamped", "raised"))
    depth = 1 + 0.15 * smooth_noise(rng, h, w, cap * 2)
    height = _blur(lay.mask, cap * rng.uniform(0.04, 0.07)) * depth * (1 if relief == "raised" else -1)
    gy, gx = np.gradient(height)
    # oblique light, as inspection lighting is set up: light along an axis would hide the edges
    # parallel to it (a horizontal bar vanishes under light from the side)
    azimuth = np.radians(90 * rng.integers(4) + rng.uniform(25, 65))
    slope = gx * np.cos(azimuth) + gy * np.sin(azimuth)
    slope /= np.percentile(np.abs(slope), 99.5) + 1e-6
    light = rng.uniform(0.45, 0.75)
    shade = 1 - light * slope
    dirt = rng.uniform(0.1, 0.4) if relief == "stamped" else 0.0
    shade *= 1 - dirt * np.clip(-height, 0, 1)
    image = bg * shade[..., None] + 0.3 * light * np.clip(-slope, 0, None)[..., None] ** 1.5
    meta.update(
        plate=plate,
        relief=relief,
        light_azimuth_deg=round(float(np.degrees(azimuth)), 1),
        light_strength=round(light, 3),
        dirt=round(dirt, 3),
    )
    return _flat(image, text, lay, meta)


DISPLAYS: dict[str, tuple[Color, Color, bool]] = {  # background, lit segment, emits light
    "lcd_reflective": ((0.62, 0.66, 0.55), (0.12, 0.13, 0.12), False),
    "lcd_grey": ((0.7, 0.71, 0.69), (0.1, 0.1, 0.12), False),
    "led_red": ((0.07, 0.03, 0.03), (1.0, 0.22, 0.12), True),
    "led_green": ((0.03, 0.06, 0.03), (0.35, 1.0, 0.3), True),
    "vfd_cyan": ((0.03, 0.07, 0.07), (0.45, 1.0, 0.85), True),
}


def segment_display(rng: np.random.Generator) -> Flat:
    """7- or 14-segment LCD, LED or VFD readout: DSEG7 for digit-only codes (it has no letters),
    DSEG14 otherwise; the unlit segments of every cell show faintly, as on a real panel."""
    seven = rng.random() < 0.5
    text, kind = random_code(rng, numeric=seven)
    font = pick(
        rng,
        ("dseg7_classic", "dseg7_classic_bold", "dseg7_modern_italic")
        if seven
        else ("dseg14_modern", "dseg14_modern_bold", "dseg14_modern_italic"),
    )
    cap = _cap_height(rng, text)
    cell = font_for_cap_height(font, cap).getlength("8")
    all_on = "8" if seven else "~"
    lines = text.split("\n")
    # every full cell (a space too) gets the all-segments glyph and its point; a real point is
    # already drawn by the cell before it, a colon keeps its own narrow cell
    ghosts = ["".join(c if c in ".:" else all_on + "." for c in line).replace("..", ".") for line in lines]
    common: dict[str, Any] = {"tracking": 0.0, "line_gap": 0.5, "margin": int(MARGIN_CAPS * cap), "space_advance": cell}
    lay = font_layout(lines, font, cap, **common)
    ghost = font_layout(ghosts, font, cap, **common).mask[: lay.mask.shape[0], : lay.mask.shape[1]]
    display = pick(rng, tuple(DISPLAYS))
    back, lit, emits = DISPLAYS[display]
    h, w = lay.mask.shape
    bg = plastic(rng, h, w, back)
    ghost_alpha = rng.uniform(0.03, 0.08)
    image = bg.copy()
    image[: ghost.shape[0], : ghost.shape[1]] = _over(bg[: ghost.shape[0], : ghost.shape[1]], lit, ghost * ghost_alpha)
    if emits:
        image = _over(image, lit, lay.mask) + 0.35 * _blur(lay.mask, cap * 0.12)[..., None] * np.asarray(lit)
    else:
        shadow = np.roll(lay.mask, (1, 2), axis=(0, 1)) * 0.2
        image = _over(_over(image, lit, shadow), lit, lay.mask * rng.uniform(0.8, 0.95))
    meta: Meta = {
        "style": "segment_display",
        "kind": kind,
        "font": font,
        "cap_height": cap,
        "segments": 7 if seven else 14,
        "display": display,
        "ghost": round(ghost_alpha, 3),
    }
    return _flat(image, text, lay, meta)


def ocr_font(rng: np.random.Generator) -> Flat:
    """Pad or screen print in OCR-A, OCR-B or a plain industrial sans on housings, cartons and
    painted plates, dark on light or light on dark, with uneven ink."""
    text, lay, meta = _font_block(rng, "ocr_font", OCR_FONT_FONTS)
    h, w = lay.mask.shape
    surface = pick(rng, tuple(SUBSTRATES) + ("painted_metal",))
    bg = (
        rough_surface(rng, h, w, 0.5, (0.6, 0.7, 0.85), 0.02)
        if surface == "painted_metal"
        else plastic(rng, h, w, SUBSTRATES[surface])
    )
    light_ink = float(bg.mean()) < 0.45
    ink_color: Color = (0.92, 0.92, 0.9) if light_ink else (0.06, 0.06, 0.08)
    coverage = rng.uniform(0.75, 0.97) * (1 + 0.12 * smooth_noise(rng, h, w, lay.cap_height / 3))
    image = _over(bg, ink_color, _blur(lay.mask, rng.uniform(0.3, 0.8)) * coverage)
    meta.update(surface=surface, ink="light" if light_ink else "dark")
    return _flat(image, text, lay, meta)


NAMEPLATE_FONTS = (  # pinned: adding or dropping a face changes every nameplate (bump RECIPE)
    # Debian faces of the first nameplates
    "dejavu_condensed_bold",
    "liberation_narrow_bold",
    "dejavu_condensed",
    "liberation_narrow",
    "liberation_sans_bold",
    "dejavu_sans_bold",
    "roboto_condensed_bold",
    "nimbus_narrow_bold",
    "b612_bold",
    "freesans_bold",
    "bebas_neue_bold",
    "bebas_neue",
    "jura_bold",
    "gillius_bold_cond",
    "gillius2_bold_cond",
    "open_sans_cond_bold",
    "heros_cn",
    "heros_cn_bold",
    # Debian: US highway signs (FHWA series, nearest to US plates), Routed Gothic, OpenDIN, DotGothic16
    "roadgeek_b",
    "roadgeek_c",
    "roadgeek_d",
    "roadgeek_e",
    "roadgeek_em",
    "roadgeek_eem",
    "roadgeek_f",
    "routed_gothic",
    "routed_gothic_narrow",
    "routed_gothic_wide",
    "opendin",
    "dotgothic16",
    # npm @fontsource (fonts.FONTSOURCE): condensed, DIN-like, stencil, techno, mono, pixel and dot faces
    "teko_400",
    "teko_700",
    "russo_one_400",
    "chakra_petch_400",
    "chakra_petch_700",
    "saira_stencil_one_400",
    "doto_700",
    "big_shoulders_display_400",
    "big_shoulders_display_700",
    "big_shoulders_text_400",
    "big_shoulders_text_700",
    "antonio_400",
    "antonio_700",
    "rajdhani_400",
    "rajdhani_700",
    "oswald_400",
    "oswald_700",
    "barlow_condensed_400",
    "barlow_condensed_700",
    "barlow_semi_condensed_400",
    "barlow_semi_condensed_700",
    "b612_mono_400",
    "b612_mono_700",
    "vt323_400",
    "silkscreen_400",
    "silkscreen_700",
    "roboto_condensed_400",
    "roboto_condensed_700",
    "fira_sans_condensed_400",
    "fira_sans_condensed_700",
    "fira_sans_extra_condensed_400",
    "fira_sans_extra_condensed_700",
    "ibm_plex_sans_condensed_400",
    "ibm_plex_sans_condensed_700",
    "archivo_narrow_400",
    "archivo_narrow_700",
    "share_tech_mono_400",
    "share_tech_400",
    "orbitron_400",
    "orbitron_700",
    "exo_2_400",
    "exo_2_700",
    "titillium_web_400",
    "titillium_web_700",
    "saira_condensed_400",
    "saira_condensed_700",
    "saira_extra_condensed_400",
    "saira_extra_condensed_700",
    "saira_semi_condensed_400",
    "saira_semi_condensed_700",
    "encode_sans_condensed_400",
    "encode_sans_condensed_700",
    "alumni_sans_400",
    "alumni_sans_700",
    "anton_400",
    "bebas_neue_400",
    "league_gothic_400",
    "fjalla_one_400",
    "khand_400",
    "khand_700",
    "kanit_400",
    "kanit_700",
    "asap_condensed_400",
    "asap_condensed_700",
    "pt_sans_narrow_400",
    "pt_sans_narrow_700",
    "roboto_mono_400",
    "roboto_mono_700",
    "space_mono_400",
    "space_mono_700",
    "jetbrains_mono_400",
    "jetbrains_mono_700",
    "black_ops_one_400",
    "staatliches_400",
    "ubuntu_condensed_400",
    "iceland_400",
    "quantico_400",
    "quantico_700",
    "michroma_400",
    "oxanium_400",
    "oxanium_700",
    "tomorrow_400",
    "tomorrow_700",
    "jockey_one_400",
    "passion_one_400",
    "passion_one_700",
    "jersey_10_400",
    "press_start_2p_400",
    "kode_mono_400",
    "kode_mono_700",
    "azeret_mono_400",
    "azeret_mono_700",
    "red_hat_mono_400",
    "red_hat_mono_700",
    "ibm_plex_mono_400",
    "ibm_plex_mono_700",
    "overpass_mono_400",
    "overpass_mono_700",
    "source_code_pro_400",
    "source_code_pro_700",
    "dm_mono_400",
    "fira_mono_400",
    "fira_mono_700",
    "pt_mono_400",
    "ubuntu_mono_400",
    "ubuntu_mono_700",
    "days_one_400",
    "audiowide_400",
    "goldman_400",
    "goldman_700",
    "bai_jamjuree_400",
    "bai_jamjuree_700",
    "changa_400",
    "changa_700",
    "blinker_400",
    "blinker_700",
    "aldrich_400",
    "play_400",
    "play_700",
    "graduate_400",
    "libre_franklin_400",
    "libre_franklin_700",
)
REGISTRATION_SHARE = 0.6
"""Share of nameplates whose code is a registration (runs of uniform letters and digits) rather
than one of the industrial code kinds: the large plate faces would otherwise show few letters."""
FINE_PRINT_FONTS = ("liberation_sans_bold", "dejavu_sans", "liberation_narrow_bold", "dejavu_condensed_bold")
PAINTS: tuple[tuple[Color, Color], ...] = (  # plate paint, code ink
    ((0.95, 0.95, 0.93), (0.08, 0.12, 0.35)),
    ((0.97, 0.9, 0.45), (0.1, 0.1, 0.12)),
    ((0.93, 0.93, 0.9), (0.55, 0.08, 0.08)),
    ((0.75, 0.85, 0.95), (0.05, 0.1, 0.3)),
    ((0.9, 0.92, 0.88), (0.08, 0.3, 0.12)),
    ((0.12, 0.2, 0.45), (0.95, 0.95, 0.92)),
    ((0.15, 0.15, 0.16), (0.92, 0.92, 0.9)),
)
FINE_WORDS = (
    "MADE IN",
    "SERIAL NO",
    "TYPE",
    "MODEL",
    "RATED",
    "STATE",
    "CLASS",
    "VOLT",
    "ISSUED",
    "CERTIFIED",
    "INSPECTED",
    "PROPERTY OF",
    "DO NOT REMOVE",
    "WARNING",
    "PART NO",
    "DATE",
)


def _fine_print(rng: np.random.Generator) -> str:
    """A line of small print: a plate's words, sometimes with a number."""
    words = [pick(rng, FINE_WORDS) for _ in range(int(rng.integers(1, 3)))]
    if rng.random() < 0.4:
        words.append(str(int(rng.integers(10, 100000))))
    return " ".join(words)


def _stack(blocks: list[Layout], gaps: list[float], squeeze: list[float]) -> Layout:
    """Blocks one under another, centred, ``gaps`` px of blank between the ink of neighbours,
    each squeezed horizontally by its factor."""
    scaled = []
    for lay, f in zip(blocks, squeeze):
        h, w = lay.mask.shape
        nw = max(1, round(w * f))
        mask = cv2.resize(lay.mask, (nw, h), interpolation=cv2.INTER_AREA) if nw != w else lay.mask
        line_chars = [(c, (b[0] * nw / w, b[1], b[2] * nw / w, b[3])) for c, b in lay.chars]
        scaled.append((mask, line_chars))
    tops = [0]
    for (_, above), (_, below), gap in zip(scaled, scaled[1:], gaps):
        ink_bottom = max(b[3] for _, b in above)
        ink_top = min(b[1] for _, b in below)
        tops.append(tops[-1] + round(ink_bottom + gap - ink_top))
    tops = [t - min(tops) for t in tops]
    width = max(m.shape[1] for m, _ in scaled)
    out = np.zeros((max(t + m.shape[0] for t, (m, _) in zip(tops, scaled)), width), np.float32)
    chars: list[tuple[str, Box]] = []
    for (mask, cs), y in zip(scaled, tops):
        x = (width - mask.shape[1]) // 2
        region = out[y : y + mask.shape[0], x : x + mask.shape[1]]
        np.maximum(region, mask, out=region)
        chars += [(c, (b[0] + x, b[1] + y, b[2] + x, b[3] + y)) for c, b in cs]
    return Layout(out, chars, max(b.cap_height for b in blocks))


def _stroke_weight(rng: np.random.Generator, mask: np.ndarray, cap: float) -> np.ndarray:
    """Thicker or thinner strokes than the font draws (paint spread, a heavier die), so the
    classifier sees more faces than the few installed ones. The boxes are kept as drawn: the ink
    grows by at most 0.05 or shrinks by 0.03 cap heights around them (3 px at the largest cap)."""
    radius = round(cap * rng.uniform(-0.03, 0.05))
    if radius == 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(radius) + 1,) * 2)
    return cv2.dilate(mask, kernel) if radius > 0 else cv2.erode(mask, kernel)


def _plate_graphics(rng: np.random.Generator, h: int, w: int, cap: float) -> np.ndarray:
    """Coverage of printed artwork behind the text: soft blobs, a band, screw heads."""
    art = np.clip(smooth_noise(rng, h, w, cap * rng.uniform(1.5, 4.0)) - rng.uniform(0.3, 1.0), 0, 1)
    if rng.random() < 0.5:
        y = int(rng.uniform(0.3, 0.8) * h)
        art[y : y + int(cap * rng.uniform(0.1, 0.5))] = 1.0
    for x in (cap * 0.8, w - cap * 0.8):
        if rng.random() < 0.6:
            cv2.circle(art, (int(x), int(h * rng.uniform(0.2, 0.8))), int(cap * rng.uniform(0.15, 0.3)), 1.0, -1)
    return art * rng.uniform(0.3, 0.8)


def nameplate(rng: np.random.Generator) -> Flat:
    """A printed or painted identification plate: the code large in a narrow bold face, lines of
    fine print above or below it, and artwork, screw heads and paint behind. Why: on rating,
    asset and vehicle plates the code is the largest text but not the only one, and the crop
    around each of its characters holds clutter the classifier must see past."""
    if rng.random() < REGISTRATION_SHARE:
        code, kind = registration(rng), "registration"
    else:
        code, kind = random_code(rng, two_line_share=0.0)
    font = pick(rng, NAMEPLATE_FONTS)
    squeeze = rng.uniform(0.65, 1.0)
    cap = max(24, min(int(rng.integers(36, 61)), int(1.3 * MAX_LINE_WIDTH / (0.75 * squeeze * len(code)))))
    small = max(8, int(cap * rng.uniform(0.2, 0.35)))
    fine_font = pick(rng, FINE_PRINT_FONTS)
    above = [_fine_print(rng) for _ in range(int(rng.integers(0, 3)))]
    below = [_fine_print(rng) for _ in range(int(rng.integers(0 if above else 1, 2)))]
    big = font_layout([code], font, cap, tracking=cap * rng.uniform(0.0, 0.12), line_gap=0.0, margin=cap)
    big = Layout(_stroke_weight(rng, big.mask, cap), big.chars, big.cap_height)
    fine = [
        font_layout(lines, fine_font, small, tracking=0.0, line_gap=0.4, margin=small) if lines else None
        for lines in (above, below)
    ]
    blocks = [b for b in (fine[0], big, fine[1]) if b is not None]
    gaps = [cap * rng.uniform(0.25, 0.6) for _ in blocks[1:]]
    lay = _stack(blocks, gaps, [squeeze if b is big else 1.0 for b in blocks])
    margin = int(MARGIN_CAPS * cap)
    lay = Layout(
        np.pad(lay.mask, margin),
        [(c, (b[0] + margin, b[1] + margin, b[2] + margin, b[3] + margin)) for c, b in lay.chars],
        cap,
    )
    h, w = lay.mask.shape
    paint, ink = PAINTS[int(rng.integers(len(PAINTS)))]
    bg = plastic(rng, h, w, paint)
    art_color = np.asarray(PAINTS[int(rng.integers(len(PAINTS)))][1], np.float32)
    bg = _over(bg, art_color, _plate_graphics(rng, h, w, cap))
    relief = _blur(lay.mask, cap * 0.05)
    shadow = np.roll(relief, (max(1, round(cap * 0.04)),) * 2, axis=(0, 1)) * rng.uniform(0.0, 0.4)
    image = _over(_over(bg, (0.0, 0.0, 0.0), shadow), ink, _blur(lay.mask, rng.uniform(0.3, 0.8)))
    text = "\n".join([*above, code, *below])
    meta: Meta = {
        "style": "nameplate",
        "kind": kind,
        "font": font,
        "cap_height": cap,
        "squeeze": round(squeeze, 3),
        "fine_print_lines": len(above) + len(below),
    }
    return _flat(image, text, lay, meta)


RENDERERS: dict[str, Callable[[np.random.Generator], Flat]] = {
    "laser_etched": laser_etched,
    "dot_matrix": dot_matrix,
    "thermal_label": thermal_label,
    "embossed": embossed,
    "segment_display": segment_display,
    "ocr_font": ocr_font,
    "nameplate": nameplate,
}
