"""Losses between real and simulated focused images (paper eqs. 15-19), two presets."""

from psfbench.core.losses.config import PAPER_WEIGHTS, LossConfig
from psfbench.core.losses.frames import FrameLosses
from psfbench.core.losses.terms import TERM_NAMES, loss_terms

__all__ = ["PAPER_WEIGHTS", "TERM_NAMES", "FrameLosses", "LossConfig", "loss_terms"]
