"""Synthetic scenes with exact depth (paper colour masks, tilted planes, steps, objects)."""

from psfbench.core.scenes.palettes import PAPER_MASKS_RGB255, mask_palette
from psfbench.core.scenes.scene import SCENE_KINDS, Scene, make_scene

__all__ = ["PAPER_MASKS_RGB255", "SCENE_KINDS", "Scene", "make_scene", "mask_palette"]
