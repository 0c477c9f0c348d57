"""Temporal unwrapping: absolute phase without 2-pi errors, and detection of injected ones."""

from __future__ import annotations

import numpy as np
import pytest

from psfbench.core.fringe.patterns import DEFAULT_FRINGE_COUNTS, fringe_patterns
from psfbench.core.fringe.phase import wrapped_phase
from psfbench.core.fringe.unwrap import (
    UnwrapError,
    consistency_tolerance,
    detect_jumps,
    graycode_unwrap,
    heterodyne_unwrap,
)

W = 1024


def _noisy_phases(counts, noise, seed=0, rows=48):
    pats = fringe_patterns(W, rows, counts, 4)
    rng = np.random.default_rng(seed)
    pats = pats + rng.normal(0, noise, pats.shape).astype(np.float32)
    return [wrapped_phase(pats[4 * i : 4 * i + 4]).phase for i in range(len(counts))]


def test_heterodyne_absolute_phase_has_no_2pi_errors() -> None:
    counts = DEFAULT_FRINGE_COUNTS
    ph = _noisy_phases(counts, 0.02)
    un = heterodyne_unwrap(ph, counts)
    truth = 2 * np.pi * counts[0] * np.arange(W) / W
    err = un.phase - truth
    assert np.abs(err).max() < 0.5  # no order error anywhere, edges included
    assert un.suspect.mean() < 0.002
    for p, c in zip(un.per_count, counts, strict=True):
        assert np.abs(p - 2 * np.pi * c * np.arange(W) / W).max() < 0.5


def test_integer_counts_flag_the_seam() -> None:
    """(70, 64, 59) beat to exactly one period: the projector's two edges share a phase,
    so noise there produces order errors -- which must be flagged, not silently kept."""
    counts = (70.0, 64.0, 59.0)
    ph = _noisy_phases(counts, 0.02)
    un = heterodyne_unwrap(ph, counts)
    truth = 2 * np.pi * 70 * np.arange(W) / W
    wrong = np.abs(un.phase - truth) > np.pi
    assert wrong.any()
    assert (un.suspect | ~wrong).all()


@pytest.mark.parametrize("which", [0, 1, 2])
def test_injected_errors_are_detected(which: int) -> None:
    """Corrupt one frequency's wrapped phase at 500 random pixels by 0.5-5 rad: every
    resulting fringe-order error must be flagged, with few false alarms elsewhere."""
    counts = DEFAULT_FRINGE_COUNTS
    ph = _noisy_phases(counts, 0.01, seed=1)
    rng = np.random.default_rng(5 + which)
    h = ph[0].shape[0]
    idx = rng.choice(h * W, 500, replace=False)
    bad = [p.copy() for p in ph]
    kick = rng.uniform(0.5, 5.0, 500) * rng.choice([-1, 1], 500)
    bad[which].ravel()[idx] = np.mod(bad[which].ravel()[idx] + kick, 2 * np.pi)
    un = heterodyne_unwrap(bad, counts)
    truth = 2 * np.pi * counts[0] * np.arange(W) / W
    wrong = np.abs(un.phase - truth[None, :]) > np.pi
    assert wrong.sum() > 200  # the corruption did cause order errors ...
    assert not (wrong & ~un.suspect).any()  # ... and none survives unflagged
    clean = np.ones(h * W, bool)
    clean[idx] = False
    assert un.suspect.ravel()[clean].mean() < 0.01  # few false alarms


def test_consistency_tolerance_catches_single_slips() -> None:
    tol = consistency_tolerance(DEFAULT_FRINGE_COUNTS)
    assert 0.1 < tol < np.pi
    ph = _noisy_phases(DEFAULT_FRINGE_COUNTS, 0.01)
    un = heterodyne_unwrap(ph, DEFAULT_FRINGE_COUNTS)
    from psfbench.core.fringe.unwrap import detect_inconsistent

    for m in (1, 2, 3, -1):
        slipped = un.phase + 2 * np.pi * m
        assert detect_inconsistent(slipped, ph, DEFAULT_FRINGE_COUNTS).all()


def test_counts_must_reach_one_period() -> None:
    with pytest.raises(UnwrapError, match="beat"):
        heterodyne_unwrap([np.zeros((2, 2))] * 2, (20.0, 10.0))
    with pytest.raises(UnwrapError, match="decreasing"):
        heterodyne_unwrap([np.zeros((2, 2))] * 2, (10.0, 20.0))


def test_graycode_unwrap_and_jump_detection() -> None:
    count = 64.0
    ph = _noisy_phases((count,), 0.01)[0]
    period = W / count
    step = 4
    coord = (np.arange(W) // step) * step + (step - 1) / 2
    code = np.broadcast_to(coord, ph.shape).astype(np.float32)
    un = graycode_unwrap(ph, code, count, W)
    truth = 2 * np.pi * count * np.arange(W) / W
    assert np.abs(un.phase - truth).max() < 0.5
    assert not un.suspect.any()
    # A Gray code off by half a period is caught by the residual ...
    bad = code.copy()
    bad[10:12, 300:310] += period / 2
    un2 = graycode_unwrap(ph, bad, count, W)
    assert un2.suspect[10:12, 300:310].mean() > 0.5
    # ... and an order slip in the result by the spatial check.
    slipped = un.phase.copy()
    slipped[20, 500] += 2 * np.pi
    jumps = detect_jumps(slipped)
    assert jumps[20, 500] and jumps.sum() == 1
