"""Font files the generator draws with: Debian packages' files, found by their package paths, and
faces from the npm registry's ``@fontsource/*`` packages (OFL), unpacked into a cache folder.

Why a table instead of fontconfig: the rendered pixels depend on the exact font file, so each
style names the files it uses and a missing one fails loudly, naming what to install, instead of
silently falling back to whatever fontconfig would substitute. The npm packages are pinned by
version and by the sha512 integrity of their tarball: ``python -m ocr2stage.synth.fonts`` (run by
``scripts/setup.sh``) installs the missing ones and refuses a tarball whose checksum changed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from functools import cache, lru_cache
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
    # US highway signs (FHWA series B to F, E modified, EE modified): the nearest free face to US plates
    "roadgeek_b": ("truetype/roadgeek/RG2014B.ttf", "fonts-roadgeek"),
    "roadgeek_c": ("truetype/roadgeek/RG2014C.ttf", "fonts-roadgeek"),
    "roadgeek_d": ("truetype/roadgeek/RG2014D.ttf", "fonts-roadgeek"),
    "roadgeek_e": ("truetype/roadgeek/RG2014E.ttf", "fonts-roadgeek"),
    "roadgeek_em": ("truetype/roadgeek/RG2014EM.ttf", "fonts-roadgeek"),
    "roadgeek_eem": ("truetype/roadgeek/RG2014EEM.ttf", "fonts-roadgeek"),
    "roadgeek_f": ("truetype/roadgeek/RG2014F.ttf", "fonts-roadgeek"),
    "routed_gothic": ("truetype/routed-gothic/routed-gothic.ttf", "fonts-routed-gothic"),
    "routed_gothic_narrow": ("truetype/routed-gothic/routed-gothic-narrow.ttf", "fonts-routed-gothic"),
    "routed_gothic_wide": ("truetype/routed-gothic/routed-gothic-wide.ttf", "fonts-routed-gothic"),
    "opendin": ("truetype/opendin/OSP-DIN.ttf", "fonts-opendin"),
    "dotgothic16": ("truetype/dotgothic16/DotGothic16-Regular.ttf", "fonts-dotgothic16"),
}

NPM_FONT_CACHE = Path(os.environ.get("OCR2STAGE_FONT_CACHE") or Path.home() / ".cache" / "ocr2stage-fonts")
"""Where the npm faces are unpacked, one folder per ``package@version`` (``/`` spelt ``+``)."""

# @fontsource/NAME packages: (NAME, version, weights drawn, sha512 integrity of the npm tarball).
# Each weight is the file files/NAME-latin-WEIGHT-normal.woff (WOFF: FreeType reads it without
# brotli, unlike WOFF2) under the key NAME_WEIGHT, dashes spelt as underscores. Looked at and left
# out: Pixelify Sans (its Z reads as 2), Tiny5 (a 5-pixel grid: X reads as 8, Z as 2), Yanone
# Kaffeesatz (old-style figures: 3 4 5 7 9 drop below the line) and Doto 400 (dots a pixel wide).
FONTSOURCE: tuple[tuple[str, str, tuple[int, ...], str], ...] = (
    (
        "teko",
        "5.3.0",
        (400, 700),
        "sha512-Kkc63jui7yWWSX0mYEhakA6vi5sK0UlTPn+ucNacqBYQ5flFpj2I/TJ8Vo3JlR9RG9kzUxfjAo6V/do7O+Vn5Q==",
    ),
    (
        "russo-one",
        "5.3.0",
        (400,),
        "sha512-loHnqTq6D+H2WQdOB2pnAeCHbbsGqobmxnxU79MNFKjPWV2TPXdc78dbbkOAcWuKWDEY+FNXZFZ1nhaQvCWNAw==",
    ),
    (
        "chakra-petch",
        "5.3.0",
        (400, 700),
        "sha512-QZvbM/q2R6n1pg2x+TJPftZmBNS+ADU37L4Z4L/6UJIz+JZ/SRaEf8usPFRiP7Ht28sIideMu/Bm1SnGlSrwNw==",
    ),
    (
        "saira-stencil-one",
        "5.3.0",
        (400,),
        "sha512-b7ILM7KrAWTIUSWKuzV29lTQZV5QOGhlmXXEt3Dsg/rJ4lo1kjUjuo6dBG9Iq+pR7wRZCVXftinVHDof+i9nSA==",
    ),
    (
        "doto",
        "5.3.0",
        (700,),
        "sha512-LTsUEUijHxf/0XmRGF8CiS8GyMuSKQSfX5XzzFYjTzWZSG8yPi0p+OV1D3Z4Ra7AfTYZ+Wzra1waw+j/bJBBCw==",
    ),
    (
        "big-shoulders-display",
        "5.3.0",
        (400, 700),
        "sha512-d4+Tcsq/WfoKeqWfB6wFdeNDsSYYnilJbSNNpf5w53MlWrGHAc9YvkAjC6id6PgFDiGaFKsXfP0RFAQtpt0bog==",
    ),
    (
        "big-shoulders-text",
        "5.3.0",
        (400, 700),
        "sha512-UQT+BSCT091ZbmFTBY653wAD+0Gb7ioWP2+2B86y1jVYZHTla/7C0gWbiabnZkyB8j4RVhO5OnRETfCD1JKa9g==",
    ),
    (
        "antonio",
        "5.3.0",
        (400, 700),
        "sha512-LB0XN3BDXKLWsHaR9qouHKGs6PT7NhVmIOPv+a3Kv8UpZSZs67lLH7vX99pOXE0v0rh9bToJQWqvO6X0fiVKxA==",
    ),
    (
        "rajdhani",
        "5.3.0",
        (400, 700),
        "sha512-oBJgSIibWJvVBKseme1JczqPLoDHN97LHti4uh0LjfcJqQoVmnQQlRKIpEjTJV559rmVQ6qbVZZwKwk2wkBTtw==",
    ),
    (
        "oswald",
        "5.3.0",
        (400, 700),
        "sha512-16r2aHActe0pH+9FLdk/74/YxXM7HpGak05kAzx3RvSToiJwGvyhv6GvckPz+YuZmvL1nxWbEop2jAXRcXYPRg==",
    ),
    (
        "barlow-condensed",
        "5.3.0",
        (400, 700),
        "sha512-RA7MmIx0v3eQ6Gcf74qLVLOwLB0GpPOzx+eU9iG/AmCnSJGcIWYeU8y6CEMGZ210MGwGg5CZhzLkkvyZdTTk1g==",
    ),
    (
        "barlow-semi-condensed",
        "5.3.0",
        (400, 700),
        "sha512-EdpQ1GlLMofGqDsQhEw+g6DonNKmzt21p8y/oNbTl4BFzEkqYkFyE2fj25YGxmZBL/LZZGAxe74FlvEWcgc31w==",
    ),
    (
        "b612-mono",
        "5.3.0",
        (400, 700),
        "sha512-G0Ihm+ekqqP5PZJ1zrx6GbeS2q4GDmYnM01zrNrPARRg64GoG0D2pTf+FsbDWvbg/9tVWFRmFIz8xYLjgFrUpg==",
    ),
    (
        "vt323",
        "5.3.0",
        (400,),
        "sha512-3w33Rg/0+R1587HQfz4t7Q7e0GGeCqr3wmzIwqdGInUnrGEwMA5eX39GP4Z9wpTQnwfhVOhYuxuRwRUeIcicbw==",
    ),
    (
        "silkscreen",
        "5.3.0",
        (400, 700),
        "sha512-M1NQ3LQH0LFNvyFPd/piHEGMImPPtpLglNnLC6Vdcq9kL0jNIOtTQmksAWCc4enbDnw1OnIpZtjNEfRqYm/QmA==",
    ),
    (
        "roboto-condensed",
        "5.3.0",
        (400, 700),
        "sha512-Vbh5pesre/M/Jspd10btdKRqLSTe3yn4l6B2tXHGElCeASfA7Pgdpu1mb8wTG8E72J4Xk6FUfqnSe46UN2QAog==",
    ),
    (
        "fira-sans-condensed",
        "5.3.0",
        (400, 700),
        "sha512-aYiPJnAwfvhHW1Yra+YPGdFvhvJhQax1wHb6aa6979ixPe51CspvxgZTJ8JNfIs3Gu7UcclUl6d2MuDnw1wsdg==",
    ),
    (
        "fira-sans-extra-condensed",
        "5.3.0",
        (400, 700),
        "sha512-AiwnJulSkWNY0SYSOmdf3oFO9G8Soc3FYyYS81BWXVUSLqj2V/YXf4vC9xTohLOPIbXnDbpeelje692zLT5O6w==",
    ),
    (
        "ibm-plex-sans-condensed",
        "5.3.0",
        (400, 700),
        "sha512-fQyBpwbkguP4azjq7Cw8h/J3C/d8MFAzXOiSoFxyKCUK4x0XKrWEh3tGdTxhDM0HctVRQilQo1zGoyxDHLm5jQ==",
    ),
    (
        "archivo-narrow",
        "5.3.0",
        (400, 700),
        "sha512-fK2Y7PdIP23+t5Dp7gh9n94zxTCdHD6M955aJ8QzR6RvW+5WgmryKySEvaCUAeSLXzA113hyW0BwEHHxHADX7Q==",
    ),
    (
        "share-tech-mono",
        "5.3.0",
        (400,),
        "sha512-hVEzVCzEid/fBfhggMyvkfDzn9ODrMihxC0EiOeQK3BuQNvdjmith2ERnoDNUkbW8zhufbKNuCgaSoT8LUNpuQ==",
    ),
    (
        "share-tech",
        "5.3.0",
        (400,),
        "sha512-+x7hin8YonDYvimNs/Sb/hfsRyu7YExxVmwE+b3FvbqQVIKWPq4cX3rCQym3YDExSHHreR+xGBkQlzTsf756Aw==",
    ),
    (
        "orbitron",
        "5.3.0",
        (400, 700),
        "sha512-+BhPsbUAo/AF7sRcf+TEexm+EWWkgTiR9Zwb7AhYIPkc5oplfvw0C45Oc2xlKPhwVEmxG8hHuA6/Ansbl+Bc6w==",
    ),
    (
        "exo-2",
        "5.3.0",
        (400, 700),
        "sha512-jVI6qXPPuV1Fne7m2Hpyc9rTt4O7ZIo+wsUZZzAW+u/iHem4CyWXXCGUoSw3utZUW82/bsGVQO9yO+hDsjZH8A==",
    ),
    (
        "titillium-web",
        "5.3.0",
        (400, 700),
        "sha512-+nO3ACtHoBgBgq5rzKYImyJqcbRR5cG7D5O73Iu9qMEVlpQ4KVpdDs+XJexZ6Tgcek4xSlkCI82Xd3yLNF++6w==",
    ),
    (
        "saira-condensed",
        "5.3.0",
        (400, 700),
        "sha512-e5ZTpIy/pE8CbB23mpm1b+dCmeapNheSrtQDXtbfDbGpm1r2oIfs5TzTpY2nzETEwei3DEFL9smm0rmFURzJtw==",
    ),
    (
        "saira-extra-condensed",
        "5.3.0",
        (400, 700),
        "sha512-oBbHvzZAebVOvXRgDxwWSl3IQbPIJNAP0XxIJOs2DUk1byMMXEhEoz0cD+vUKb+TzSWS4t4xe5ZGh5QhTZ17Rw==",
    ),
    (
        "saira-semi-condensed",
        "5.3.0",
        (400, 700),
        "sha512-ODnnx0osErt7pRMY+MhxqwXOpPEKlRNW6Bb1Ci70Y37JMnISFAUZYo6ZGv/VOWc2x/IetzdmMaiiEVNPtWMi9Q==",
    ),
    (
        "encode-sans-condensed",
        "5.3.0",
        (400, 700),
        "sha512-Xi37pPXPWyGeMZD1d0ve/0MseqH4ue5HXX9rJFbAmUau3zBZBS0oDsgD6SbT7c2CuSc5jzYwzaCbUUCR2s3Ceg==",
    ),
    (
        "alumni-sans",
        "5.3.0",
        (400, 700),
        "sha512-WinRdWgUNrt8uc6Qsk0lD7bDBW/Lq1mMTbyPNFynW4c60R70XxoSwCDIUe/pP1gC+Bw+GUmRG/7cND7X/WePYw==",
    ),
    (
        "anton",
        "5.3.0",
        (400,),
        "sha512-OR1D5n124n2XRs66SbX7IjcOSptljEJE8FcDNnlni2y1/M6KpTx7cU2PIWzTSsBj4WFkHPw24On8qw3qkQZuTw==",
    ),
    (
        "bebas-neue",
        "5.3.0",
        (400,),
        "sha512-nCxMEb9Bg9sjNWm9TIOsvHKDMLRUfEZPWpLgYu6m9KavZZVSA/WoHzI5wROwqA+eNwEi/PNBAcB5Co7HA3S0Cw==",
    ),
    (
        "league-gothic",
        "5.3.0",
        (400,),
        "sha512-gqedetX+UlaiJgLiPnOzWGB1sY3OtNhS8YMjTy2D73AcsagIqpdIizssr1MStcUYf3D/zzanECuXawIgMGZxDg==",
    ),
    (
        "fjalla-one",
        "5.3.0",
        (400,),
        "sha512-KYJMzU/5Ab7cD7lMiSM8SlqYSuWIb7GOKLH408VfeTZ9JT13j6ctuIbjFYmgQlNYJRVxDf/fxo0TAH9bt/YhMw==",
    ),
    (
        "khand",
        "5.3.0",
        (400, 700),
        "sha512-XgRPIi8UxIdvugPUPTjv2tQMSyqAvsZS5dnpvugLAMwnxIrbFM+4uSjpg6psTlTsN5AigUAnoX1Xum0o2OtA5w==",
    ),
    (
        "kanit",
        "5.3.0",
        (400, 700),
        "sha512-XrVxf5NWb8QLAEbQS2GYir3AY0WbOLr5Q80fWurnoFWXyc7CWvioGNPC2dxRGZKocMUXbwGhuK+sJqWkRLAWNA==",
    ),
    (
        "asap-condensed",
        "5.3.0",
        (400, 700),
        "sha512-ggjp+XQGKSWfDGJBKvuHFDrOeDQ5q9YEwYR4LaESIFFA5mooD06L/vcREq4oHAnavIj/qz9MgKVrqo5OgIPLAQ==",
    ),
    (
        "pt-sans-narrow",
        "5.3.0",
        (400, 700),
        "sha512-MVVT3W4L5TCuzSZAhsRQRWTGBhDOarcSBQ0PuuSJ44me4gMWRzz01waS/3XebrRKEyrSobted3E4aI2uudR/Og==",
    ),
    (
        "roboto-mono",
        "5.3.0",
        (400, 700),
        "sha512-yhwplHMHW9dCk+1pZuERfcJe+K3rosGVZEoK0XktkxRSqQ9qsipSwwiuW2/8Qmtp9lzu3Ixa/ie4BMH3i8CkZQ==",
    ),
    (
        "space-mono",
        "5.3.0",
        (400, 700),
        "sha512-FrpBMOVWn3PRdRHlrZWC55X3kZG/2BTH7SM5ZyS/bky3iKya2BturI5lk+t0RoDQL2JyHzURsVq/EisCsxpI5A==",
    ),
    (
        "jetbrains-mono",
        "5.3.0",
        (400, 700),
        "sha512-fqDfB5I9f1p1TV486aUgB9t8zP84P0O1FtQR5Ol9vjwPy+S+EIGlVYm1cvj2W5shcZMTg2nZFdVMoH5wFu8a1A==",
    ),
    (
        "black-ops-one",
        "5.3.0",
        (400,),
        "sha512-kDqkJFtvMErjajEeMXv6nyIW3t6UKb5usW+1/sQox9vA5q8dyMpAdAW9tU6+aIWo6xIQlatqNrfUlrBdJu6D4A==",
    ),
    (
        "staatliches",
        "5.3.0",
        (400,),
        "sha512-vYQgZ76FapaXZeiZQLUqy49+XmpyPLNgOsmqqqyX8pMFvb+rdODYDtc/vIgO/g5oTsESnSoD85DQozd8D6mUEA==",
    ),
    (
        "ubuntu-condensed",
        "5.3.0",
        (400,),
        "sha512-xbxTJMlsN96ptF+AWgkbhR1gOt53Fb6+ZZgAfpG/twvHh4AG0sQoBbIBVT2I7Maqu3d2EetJHoW/mqCszDTzzg==",
    ),
    (
        "iceland",
        "5.2.8",
        (400,),
        "sha512-UB1LoJlHFy9CaccxFgLOId7713Uf9irFP+WIyqsgVXk71fqnu0BSJlWYGbLWsaNPWBHSm6VzhogQ0PSyFWO7BA==",
    ),
    (
        "quantico",
        "5.3.0",
        (400, 700),
        "sha512-W0+JbODU0FHQtnQKD42Iw9BZrY31UZciWB8lXjhqCHvXRfQbe64e7lRAS3538xOCbRS2xoga7JBoyX9cMVmc3A==",
    ),
    (
        "michroma",
        "5.3.0",
        (400,),
        "sha512-9sbGD7ek1hGvq0TmgNPFbuI3k7qwXVdZ+zCDsTHDGRIQqfYrpYWwEYcwH2fzOtvn8uiGqzAoJ72vuFE3v/hDdg==",
    ),
    (
        "oxanium",
        "5.3.0",
        (400, 700),
        "sha512-MpTsBMyPvlorqKkMVoaN8zctjty1vwO7WSOkNYhUj+oE6EEzL9I/j2EoEHLEEWIgTIRYwdxGMNLegBcvnc4nbQ==",
    ),
    (
        "tomorrow",
        "5.3.0",
        (400, 700),
        "sha512-ND308ZDnhnkH0s4JDUkxbDHwHXXZZW5RH33tMuTEwTqS56YS/4+IOCNhjwt0+zxszXyCprtum/60b3KHnei/pg==",
    ),
    (
        "jockey-one",
        "5.2.7",
        (400,),
        "sha512-VGFeQwTdvIL2sMNq3Ofmn8cgFx69KJxv0o2ScPOoSKFgyFP1JgZGo8Yhu8tpDZNsJvEDidGcyAHc8b2awcTE4w==",
    ),
    (
        "passion-one",
        "5.3.0",
        (400, 700),
        "sha512-4+yT6KG1pJc4XxtUUtqLvd+zFm9RI4Ge5N5lEjpG/k9hN4On79OynXmP2RP3KIjjxdyp2BMajrZRAPwSLhIAxg==",
    ),
    (
        "jersey-10",
        "5.3.0",
        (400,),
        "sha512-1dOTUg3JXm/Ls6j4BEPLRF5DHGadCGQy/sIHS7L0SWauB2rEd2W6614Xufxoc+TVXtrt8kVR6IWh3RFkXmy/Cw==",
    ),
    (
        "press-start-2p",
        "5.3.0",
        (400,),
        "sha512-gxWFxdeDglPhEYSwEeooomcaFK8kSQYLQwVxfnOJeYRj2sPEHXjpVtFgEaYfqzOjuAJGrIcJOipu2KY5YkbyuQ==",
    ),
    (
        "kode-mono",
        "5.3.0",
        (400, 700),
        "sha512-9xtuE63XocejXWwHa1vjV9IfQ1JbSKyCwyPV2SfFI+lgoMmuTKwI1DXZxxjZT+Q7qOdflwxj9fRrosGrh1YWpg==",
    ),
    (
        "azeret-mono",
        "5.3.0",
        (400, 700),
        "sha512-Ag/+gN67fUry7i1yLlTnk16Rr1nnTQI2YefA/G7tYcCSr/+TC/ayMrE8Km7O0OKRgI/B5Mfel46Gq9IGY50Uaw==",
    ),
    (
        "red-hat-mono",
        "5.3.0",
        (400, 700),
        "sha512-rXSQpg6TLRd+WLhcN9qGIarP9/HVouhmdKJcCv1R3+c2mznJ2GUUaTpkKhFN6LO2Sg7lRvb8CIaXYQqvqY6aPw==",
    ),
    (
        "ibm-plex-mono",
        "5.3.0",
        (400, 700),
        "sha512-eTgnZjZEGk1QtD3ZstF+Vclo2HLAni8YMy34/DxllwZvyz1lR/1RF/xTiAquOBO7MvqBx8D2Ig2WCPMVfdZu7Q==",
    ),
    (
        "overpass-mono",
        "5.3.0",
        (400, 700),
        "sha512-ORe1cIq1DZmEQ2/Y4N09YIKgzAfzn1ZlPfOQUEAIZTJiNaOQJonxCWbp9fsUQrp0h6j7+ebd9wIzkRv7YMaESQ==",
    ),
    (
        "source-code-pro",
        "5.3.0",
        (400, 700),
        "sha512-JxaCODU69HDS3mVra9u96nyBF911La6IvtGLgpQD+PZLxJ1i9IxooNfLR6Y37kx06IFjVGkvoUmg3WPwh/8gBg==",
    ),
    (
        "dm-mono",
        "5.3.0",
        (400,),
        "sha512-OINjI8C1S/wpchhQxl7njZdMn4+hnDCpQ4YtvvOpKNARo+0J8O1x1IcrChxNjHOhfVv1by8C/FQoy3hXK+C1Ug==",
    ),
    (
        "fira-mono",
        "5.3.0",
        (400, 700),
        "sha512-FZzRwKhpoXQU1uhEGKUg5AHUUdfiaTXxGCdBBeGHUmcZaqEDEmndSVvpXHkSViH25f/UiWfhcWTib+6A8o4qeQ==",
    ),
    (
        "pt-mono",
        "5.3.0",
        (400,),
        "sha512-AKXUTYCdv53jAJyzk3AEns6PdOvL3u+AD9Y4Ms6BFFRC7WCqYOvywujYT3gs00sMBIPs/J8iY7SQljk3wRfovw==",
    ),
    (
        "ubuntu-mono",
        "5.3.0",
        (400, 700),
        "sha512-hLwLkeAV9YvLSOWExn0heOXy+EB4wKnt648qS5FaqsiCZDS8X9kR/ueIBzzX/vNSXjFkhLRSTKqlOfFvHdD4Bw==",
    ),
    (
        "days-one",
        "5.2.7",
        (400,),
        "sha512-e4Y93dPSbkfnv5qVBHnRTa24rZKvCrlJpPASE77cSeFf5jm8pxRxG6hN02nL1GYqK5EVTAUchlsw3l3K6U65KA==",
    ),
    (
        "audiowide",
        "5.3.0",
        (400,),
        "sha512-ECBdWgQPaCSuwlFyeXzV0i2DAGq0SKID7jxD1oHhYTObx3wz26YKs3F9Ic/EO369Anzld9IqxflRukJm6nVxpw==",
    ),
    (
        "goldman",
        "5.3.0",
        (400, 700),
        "sha512-7Seba3YugrelhuPU4dspNCNwDraS+MxLs/8mgTkYH2JJLSyH6lqx4MN1iuIAruzcA80W1veYXP96jKw5xR9gZw==",
    ),
    (
        "bai-jamjuree",
        "5.3.0",
        (400, 700),
        "sha512-8EfWN+tsuHC9HzPDa83J8Lj8P8XBITlCDCxBHCOPzO1opQC/xt4L3KCwFa98I6DB9YCFAxKi92t8q6HkW0JNaA==",
    ),
    (
        "changa",
        "5.3.0",
        (400, 700),
        "sha512-zKPYCAB4338o8g7SejgbXPlNbENNr9Y7aJMzrU+umlVBiPdU8tvJYiREHFbLFxge5mI89ktaR2gt7Q1Pq15Zsg==",
    ),
    (
        "blinker",
        "5.3.0",
        (400, 700),
        "sha512-FUbHO73CjtdBrQTISIsxAG6W6zsFNOgOIFwihbzn6eHjY9qfpCvaMd/QVEgSOgQp2GyBarwI7jNdQi/3Lzrj1Q==",
    ),
    (
        "aldrich",
        "5.3.0",
        (400,),
        "sha512-C3Ho66fhyDGy9rSPc9Sjz7WErf5KtN7Ru1z0YV+PYZq1xLnxEkArF6HDZiXRRZYJQ+EZNU+1E/DNJTPJfsfIGA==",
    ),
    (
        "play",
        "5.3.0",
        (400, 700),
        "sha512-VpI6fd/A3jT1J3bOuyHn01CioAqwGWwNReTGycrFF2D57An2EJhDAuG030up3Ho7jSy1sSGW85gtB+l/v3gXOw==",
    ),
    (
        "graduate",
        "5.3.0",
        (400,),
        "sha512-Bv3IryiDnzmj5Uo9WP4MMtlXKebCAqsEIIjmcK1H2lWPleF3YNXWUKpJgOMt3SVDUxxQ2CeDzqonj5IcThOjBg==",
    ),
    (
        "libre-franklin",
        "5.3.0",
        (400, 700),
        "sha512-owd+HDvD4hnGHG1jO3rHtg0BiNT0DJbZMaSqJ7g4r0646G5Q91MjTFWxZbpwg8njLu4BSH3EBqwkVSMLud6brg==",
    ),
)
NPM_INTEGRITY: dict[str, str] = {f"@fontsource/{name}@{version}": sha for name, version, _, sha in FONTSOURCE}
FONTS.update(
    {
        f"{name.replace('-', '_')}_{weight}": (
            f"files/{name}-latin-{weight}-normal.woff",
            f"@fontsource/{name}@{version}",
        )
        for name, version, weights, _ in FONTSOURCE
        for weight in weights
    }
)


class MissingFontError(FileNotFoundError):
    """A font file the generator needs is not installed."""


def _npm_dir(package: str, cache: Path | None = None) -> Path:
    return (cache or NPM_FONT_CACHE) / package.replace("/", "+")


@cache
def font_path(key: str) -> Path:
    """The installed file for ``key``; raises :class:`MissingFontError` naming the package and
    the command that installs it."""
    rel, package = FONTS[key]
    if package in NPM_INTEGRITY:  # an npm face: only its own checked folder, never a look-alike elsewhere
        path = _npm_dir(package) / rel
        if path.is_file():
            return path
        raise MissingFontError(
            f"font file {Path(rel).name} (style font {key!r}) is not installed in {_npm_dir(package)}; "
            f"install the npm package {package}: bash scripts/setup.sh (or, with npm on the PATH: "
            f"python -c 'from ocr2stage.synth.fonts import main; main()')"
        )
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


@cache
def cap_ratio(key: str) -> float:
    """Cap height of 'H' per pixel of font size, to size a font by the height of its capitals."""
    font = truetype(key, 200)
    _, top, _, bottom = font.getbbox("H")
    return (bottom - top) / 200


def font_for_cap_height(key: str, cap_height: float) -> ImageFont.FreeTypeFont:
    """The font ``key`` sized so that its capitals are ``cap_height`` pixels tall."""
    return truetype(key, max(6, round(cap_height / cap_ratio(key))))


def undrawn_chars(key: str, chars: str) -> str:
    """The characters of ``chars`` (spaces aside) that face ``key`` does not draw: no ink, or the
    same ink as a code point no face has (its .notdef box). Such a face would make labels lie."""
    font = truetype(key, 40)

    def ink(char: str) -> bytes:
        return bytes(font.getmask(char))

    notdef = ink("\ue000")  # a private-use code point no face here draws
    return "".join(c for c in chars if c != " " and (not any(ink(c)) or ink(c) == notdef))


def install_npm_fonts(cache: Path | None = None) -> list[str]:
    """Unpack the missing ``@fontsource`` packages' face files into ``cache`` (``npm pack`` of
    the exact versions, each tarball checked against its pinned sha512); returns the packages
    installed. Idempotent: a package whose folder holds its files and its integrity is skipped
    without calling npm."""
    wanted: dict[str, list[str]] = {}
    for rel, package in FONTS.values():
        if package in NPM_INTEGRITY:
            wanted.setdefault(package, []).append(rel)
    missing = [p for p, rels in wanted.items() if not _installed(_npm_dir(p, cache), NPM_INTEGRITY[p], rels)]
    if not missing:
        return []
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            f"npm is missing: it installs the generator's fonts {', '.join(missing)}; "
            "install Node.js and npm (Debian: apt-get install nodejs npm)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [npm, "pack", "--json", "--pack-destination", tmp, *missing], check=True, capture_output=True, text=True
        ).stdout
        for packed in json.loads(out):
            package = f"{packed['name']}@{packed['version']}"
            tarball = Path(tmp) / packed["filename"]
            sha = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
            if sha != NPM_INTEGRITY[package]:
                raise RuntimeError(
                    f"{package}: tarball checksum {sha} differs from the pinned "
                    f"{NPM_INTEGRITY[package]}: the package changed, check it before re-pinning"
                )
            dest = _npm_dir(package, cache)
            staging = dest.with_name(dest.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            with tarfile.open(tarball) as tar:
                for rel in [*wanted[package], "LICENSE"]:
                    member = tar.extractfile(f"package/{rel}")
                    if member is None:
                        raise RuntimeError(f"{package} has no file {rel}")
                    (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                    (staging / rel).write_bytes(member.read())
            (staging / ".integrity").write_text(sha + "\n")
            shutil.rmtree(dest, ignore_errors=True)
            staging.rename(dest)
    still = [p for p in missing if not _installed(_npm_dir(p, cache), NPM_INTEGRITY[p], wanted[p])]
    if still:
        raise RuntimeError(f"npm pack did not install {', '.join(still)}")
    font_path.cache_clear()
    return missing


def _installed(folder: Path, integrity: str, rels: list[str]) -> bool:
    stamp = folder / ".integrity"
    return stamp.is_file() and stamp.read_text().strip() == integrity and all((folder / rel).is_file() for rel in rels)


def main() -> None:
    """Install the missing npm faces (``scripts/setup.sh`` calls this), or exit non-zero saying why."""
    try:
        done = install_npm_fonts()
    except (RuntimeError, subprocess.CalledProcessError) as error:
        sys.exit(f"ocr2stage.synth.fonts: {error}")
    print(
        f"fonts: installed {len(done)} npm font packages into {NPM_FONT_CACHE}"
        if done
        else f"fonts: all {len(NPM_INTEGRITY)} npm font packages present in {NPM_FONT_CACHE}"
    )


if __name__ == "__main__":
    main()
