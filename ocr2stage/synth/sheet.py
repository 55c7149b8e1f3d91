"""Contact sheet of a generated data set: a row of samples per style, truth under each image.

Why: a reviewer judges a synthetic set by looking at it; one picture of every style is the
quickest way to see whether the codes look like real parts and remain readable.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

from .fonts import truetype

THUMB_HEIGHT, THUMB_MAX_WIDTH, GAP, LABEL_WIDTH, CAPTION = 72, 340, 10, 130, 30


def contact_sheet(dataset: Path, per_style: int = 4) -> Image.Image:
    """The first ``per_style`` images of each style in ``dataset`` (a folder with labels.jsonl)."""
    dataset = Path(dataset)
    rows: dict[str, list[dict]] = {}
    for line in (dataset / "labels.jsonl").read_text().splitlines():
        row = json.loads(line)
        picked = rows.setdefault(row["meta"]["style"], [])
        if len(picked) < per_style:
            picked.append(row)
    font = truetype("dejavu_sans", 12)
    row_h = THUMB_HEIGHT + CAPTION + GAP
    sheet = Image.new("RGB", (LABEL_WIDTH + per_style * (THUMB_MAX_WIDTH + GAP), len(rows) * row_h + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (style, picked) in enumerate(rows.items()):
        y = GAP + r * row_h
        draw.text((GAP, y + THUMB_HEIGHT // 2), style, font=font, fill="black")
        for c, row in enumerate(picked):
            image = Image.open(dataset / "images" / row["file"]).convert("RGB")
            scale = min(THUMB_HEIGHT / image.height, THUMB_MAX_WIDTH / image.width)
            thumb = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
            x = LABEL_WIDTH + c * (THUMB_MAX_WIDTH + GAP)
            sheet.paste(thumb, (x, y))
            draw.text((x, y + THUMB_HEIGHT + 2), row["text"].replace("\n", " / "), font=font, fill="black")
            draw.text((x, y + THUMB_HEIGHT + 15), f"{row['file']}  {row['meta']['kind']}", font=font, fill="gray")
    return sheet
