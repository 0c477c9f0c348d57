"""The colour masks of the paper's standard planes (Table 2), as RGB in [0, 1].

The authors chose five hues spread evenly on the hue circle, plus white, and scattered them at
random so that every colour channel (and therefore any wavelength-dependent blur) is sampled
equally over the plate. Scenes that imitate their standard planes reuse exactly those values.
"""

from __future__ import annotations

import numpy as np

#: Table 2, one row per mask, five (R, G, B) colours each, 0..255. The printed table lists each
#: colour as a column whose three rows are R, G and B.
PAPER_MASKS_RGB255: dict[int, tuple[tuple[int, int, int], ...]] = {
    1: ((255, 255, 0), (255, 80, 80), (255, 0, 255), (54, 97, 143), (51, 204, 204)),
    2: ((184, 124, 76), (126, 0, 0), (153, 51, 255), (217, 243, 255), (51, 204, 51)),
    3: ((226, 182, 89), (255, 229, 222), (204, 102, 255), (132, 174, 225), (22, 73, 117)),
    4: ((255, 219, 118), (255, 117, 194), (255, 93, 29), (0, 177, 249), (134, 117, 131)),
    5: ((255, 247, 208), (255, 179, 170), (255, 112, 148), (0, 106, 247), (0, 255, 80)),
}

WHITE_RGB255 = (255, 255, 255)


def mask_palette(mask: int) -> np.ndarray:
    """The six colours of paper mask 1..5 (white first) as a (6, 3) float32 array in [0, 1]."""
    if mask not in PAPER_MASKS_RGB255:
        raise ValueError(f"option 'mask' must be one of 1..5 (paper Table 2), got {mask!r}")
    colours = (WHITE_RGB255, *PAPER_MASKS_RGB255[mask])
    return np.asarray(colours, dtype=np.float32) / 255.0
