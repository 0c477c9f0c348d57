"""Draw psfbench.png (256 px) and psfbench.ico (16-256 px) like psfbench.svg, with Pillow.

    .venv/bin/python installer/icons/make_icons.py

The files are committed; run this only after changing the design.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
S = 256


def draw() -> Image.Image:
    img = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((8, 8, 248, 248), radius=40, fill=(0x1D, 0x35, 0x57, 255))
    yy, xx = np.mgrid[0:S, 0:S]
    r = np.hypot(xx - 128, yy - 116) / 82.0
    alpha = np.clip(1.0 - r**2, 0, 1) ** 0.6
    glow = np.zeros((S, S, 4), np.uint8)
    glow[..., 0] = 255
    glow[..., 1] = np.clip(247 - 110 * r, 138, 247).astype(np.uint8)
    glow[..., 2] = np.clip(194 - 200 * r, 36, 194).astype(np.uint8)
    glow[..., 3] = (255 * alpha).astype(np.uint8)
    img.alpha_composite(Image.fromarray(glow, "RGBA"))
    d = ImageDraw.Draw(img)
    d.ellipse((70, 58, 186, 174), outline=(255, 247, 194, 180), width=4)
    d.ellipse((38, 26, 218, 206), outline=(255, 210, 63, 115), width=3)
    d.rounded_rectangle((40, 212, 216, 224), radius=6, fill=(0xA8, 0xDA, 0xDC, 255))
    return img


if __name__ == "__main__":
    img = draw()
    img.save(HERE / "psfbench.png")
    img.save(HERE / "psfbench.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (256, 256)])
    print(HERE / "psfbench.png", HERE / "psfbench.ico")
