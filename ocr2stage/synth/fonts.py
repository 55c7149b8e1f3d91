"""Font files the generator draws with, found on disk by their Debian package paths.

Why a table instead of fontconfig: the rendered pixels depend on the exact font file, so each
style names the files it uses and a missing one fails loudly, naming the package to install,
instead of silently falling back to whatever fontconfig would substitute.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path("/usr/share/texmf/fonts"),  # Debian's fonts-texgyre installs only here
    Path.home() / ".local/share/fonts",
    Path.home() / ".fonts",
)

# key -> (path below a font dir, Debian package that ships it)
FONTS: dict[str, tuple[str, str]] = {
    "ocra": ("truetype/ocr-a/OCRA.ttf", "fonts-ocr-a"),
    "ocrb": ("opentype/ocr-b/OCRB.otf", "fonts-ocr-b"),
    "dseg7_classic": ("truetype/dseg/DSEG7Classic-Regular.ttf", "fonts-dseg"),
    "dseg7_classic_bold": ("truetype/dseg/DSEG7Classic-Bold.ttf", "fonts-dseg"),
    "dseg7_modern_italic": ("truetype/dseg/DSEG7Modern-Italic.ttf", "fonts-dseg"),
    "dseg14_modern": ("truetype/dseg/DSEG14Modern-Regular.ttf", "fonts-dseg"),
    "dseg14_modern_bold": ("truetype/dseg/DSEG14Modern-Bold.ttf", "fonts-dseg"),
    "dseg14_modern_italic": ("truetype/dseg/DSEG14Modern-Italic.ttf", "fonts-dseg"),
    "dejavu_sans": ("truetype/dejavu/DejaVuSans.ttf", "fonts-dejavu-core"),
    "dejavu_sans_bold": ("truetype/dejavu/DejaVuSans-Bold.ttf", "fonts-dejavu-core"),
    "dejavu_condensed": ("truetype/dejavu/DejaVuSansCondensed.ttf", "fonts-dejavu-extra"),
    "dejavu_condensed_bold": ("truetype/dejavu/DejaVuSansCondensed-Bold.ttf", "fonts-dejavu-extra"),
    "roboto_condensed_bold": ("truetype/roboto/unhinted/RobotoCondensed-Bold.ttf", "fonts-roboto-unhinted"),
    "nimbus_narrow_bold": ("opentype/urw-base35/NimbusSansNarrow-Bold.otf", "fonts-urw-base35"),
    "b612_bold": ("opentype/b612/B612-Bold.otf", "fonts-b612"),
    "freesans_bold": ("truetype/freefont/FreeSansBold.ttf", "fonts-freefont-ttf"),
    "bebas_neue": ("opentype/bebas-neue/BebasNeue-Regular.otf", "fonts-bebas-neue"),
    "bebas_neue_bold": ("opentype/bebas-neue/BebasNeue-Bold.otf", "fonts-bebas-neue"),
    "jura_bold": ("opentype/jura/Jura-Bold.otf", "fonts-jura"),
    "gillius_bold_cond": ("truetype/adf/GilliusADF-BoldCond.otf", "fonts-adf-gillius"),
    "gillius2_bold_cond": ("truetype/adf/GilliusADFNo2-BoldCond.otf", "fonts-adf-gillius"),
    "open_sans_cond_bold": ("truetype/open-sans/OpenSans-CondBold.ttf", "fonts-open-sans"),
    "heros_cn": ("opentype/public/tex-gyre/texgyreheroscn-regular.otf", "fonts-texgyre"),
    "heros_cn_bold": ("opentype/public/tex-gyre/texgyreheroscn-bold.otf", "fonts-texgyre"),
    "dejavu_mono": ("truetype/dejavu/DejaVuSansMono.ttf", "fonts-dejavu-core"),
    "dejavu_mono_bold": ("truetype/dejavu/DejaVuSansMono-Bold.ttf", "fonts-dejavu-core"),
    "liberation_sans": ("truetype/liberation/LiberationSans-Regular.ttf", "fonts-liberation"),
    "liberation_sans_bold": ("truetype/liberation/LiberationSans-Bold.ttf", "fonts-liberation"),
    "liberation_narrow": ("truetype/liberation/LiberationSansNarrow-Regular.ttf", "fonts-liberation"),
    "liberation_narrow_bold": ("truetype/liberation/LiberationSansNarrow-Bold.ttf", "fonts-liberation"),
    "liberation_mono": ("truetype/liberation/LiberationMono-Regular.ttf", "fonts-liberation"),
    "liberation_mono_bold": ("truetype/liberation/LiberationMono-Bold.ttf", "fonts-liberation"),
}


class MissingFontError(FileNotFoundError):
    """A font file the generator needs is not installed."""


@lru_cache(maxsize=None)
def font_path(key: str) -> Path:
    """The installed file for ``key``; raises :class:`MissingFontError` naming the package."""
    rel, package = FONTS[key]
    for root in FONT_DIRS:
        if (root / rel).is_file():
            return root / rel
    name = Path(rel).name
    for root in FONT_DIRS:
        if root.is_dir():
            found = next(root.rglob(name), None)
            if found is not None:
                return found
    raise MissingFontError(
        f"font file {name} (style font {key!r}) is not installed; "
        f"install the Debian package {package}: sudo apt-get install {package}"
    )


@lru_cache(maxsize=512)
def truetype(key: str, size: int) -> ImageFont.FreeTypeFont:
    """The font ``key`` at pixel ``size`` (cached: fonts are reopened for every sample otherwise)."""
    return ImageFont.truetype(str(font_path(key)), size)


@lru_cache(maxsize=None)
def cap_ratio(key: str) -> float:
    """Cap height of 'H' per pixel of font size, to size a font by the height of its capitals."""
    font = truetype(key, 200)
    _, top, _, bottom = font.getbbox("H")
    return (bottom - top) / 200


def font_for_cap_height(key: str, cap_height: float) -> ImageFont.FreeTypeFont:
    """The font ``key`` sized so that its capitals are ``cap_height`` pixels tall."""
    return truetype(key, max(6, round(cap_height / cap_ratio(key))))
