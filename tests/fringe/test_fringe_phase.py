"""Patterns and N-step phase: conventions, gamma, and the real 4-step lens captures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from psfbench.core.fringe.patterns import (
    PatternError,
    fringe_patterns,
    gamma_precompensate,
    graycode_patterns,
)
from psfbench.core.fringe.phase import (
    auto_modulation_threshold,
    quality_mask,
    textbook_4step,
    wrapped_phase,
)


def _wrapdiff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.angle(np.exp(1j * (np.asarray(a, np.float64) - b))))


def test_graycodes_match_opencv_layout() -> None:
    ok, ref = cv2.structured_light.GrayCodePattern.create(100, 60).generate()
    mine = graycode_patterns(100, 60, with_references=False)
    assert ok and len(ref) == len(mine)
    for a, b in zip(mine, ref, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    refs = graycode_patterns(100, 60)
    assert (refs[-2] == 255).all() and (refs[-1] == 0).all()


@pytest.mark.parametrize("steps", [3, 4, 6])
def test_phase_recovers_projected_phase(steps: int) -> None:
    w = 400
    pats = fringe_patterns(w, 3, (7.0,), steps)
    pm = wrapped_phase(pats)
    truth = 2 * np.pi * 7 * np.arange(w) / w
    assert _wrapdiff(pm.phase[1], truth).max() < 1e-3
    np.testing.assert_allclose(pm.modulation, 0.5, atol=1e-3)
    np.testing.assert_allclose(pm.bias, 0.5, atol=1e-4)
    assert pm.phase.min() >= 0 and pm.phase.max() < 2 * np.pi


def test_gamma_precompensation_removes_ripple() -> None:
    """A gamma-2.2 projector turns the 4-step phase into a ripple at 4x the fringe rate;
    pre-compensated patterns (or more steps) suppress it."""
    w, gamma = 512, 2.2
    truth = 2 * np.pi * 8 * np.arange(w) / w

    def shown(pats: np.ndarray) -> np.ndarray:
        return np.power(pats, gamma)

    raw = _wrapdiff(wrapped_phase(shown(fringe_patterns(w, 2, (8.0,), 4))).phase[0], truth)
    comp = _wrapdiff(
        wrapped_phase(shown(fringe_patterns(w, 2, (8.0,), 4, gamma=gamma))).phase[0], truth
    )
    more = _wrapdiff(wrapped_phase(shown(fringe_patterns(w, 2, (8.0,), 8))).phase[0], truth)
    assert raw.max() > 0.005
    assert comp.max() < raw.max() / 50
    assert more.max() < raw.max() / 5
    np.testing.assert_allclose(gamma_precompensate(np.array([0.5]), 2.0), [0.5**0.5], rtol=1e-6)


def test_pattern_errors_name_parameter() -> None:
    with pytest.raises(PatternError, match="steps"):
        fringe_patterns(64, 64, (4.0,), 2)
    with pytest.raises(PatternError, match="counts"):
        fringe_patterns(64, 64, (0.0,), 4)


def _lens(shared_data, kind: str) -> np.ndarray:
    folder = shared_data / "fringe-lens-4step"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    ims = [cv2.imread(str(folder / f"lens_{kind}_{d:03d}.jpg"), 0) for d in (0, 90, 180, 270)]
    return np.stack(ims)


def test_real_lens_phase_is_textbook_4step(shared_data) -> None:
    stack = _lens(shared_data, "orig")
    pm = wrapped_phase(stack)
    ref = textbook_4step(*stack)
    defined = pm.modulation > 1.0  # atan2(0, 0) is arbitrary where both differences vanish
    assert defined.mean() > 0.5
    assert _wrapdiff(pm.phase[defined], ref[defined]).max() < 1e-3
    # The fringes are real and monotonic across the crop. Sign convention: with the textbook
    # formula this data's phase *decreases* along +x (about -0.25 rad/px, a ~25 px period),
    # i.e. its shifts run opposite to its x axis; our convention reproduces it unchanged.
    crop = wrapped_phase(_lens(shared_data, "crop"))
    grad = np.angle(np.exp(1j * np.diff(crop.phase.astype(np.float64), axis=1)))
    g = grad[crop.modulation[:, 1:] > 10]
    assert -0.4 < np.median(g) < -0.1
    assert (g < 0).mean() > 0.95


def test_real_lens_quality_mask_covers_fringes_only(shared_data) -> None:
    """Regions fixed by inspecting the photos (orig frame, 933x862): the dataset's own crop
    (``lens_crop_*`` = the fringe region, located by template matching), the grey board
    beside the fringes (bright, but no fringes), and the dark floor below."""
    stack = _lens(shared_data, "orig")
    crop = _lens(shared_data, "crop")
    pm = wrapped_phase(stack)
    mask = quality_mask(pm, min_modulation=auto_modulation_threshold(pm.modulation))
    res = cv2.matchTemplate(stack[0], crop[0], cv2.TM_CCOEFF_NORMED)
    _, score, _, (x, y) = cv2.minMaxLoc(res)
    assert score > 0.99
    h, w = crop.shape[1:]
    # Covers the fringe region (what is left out there is the lens rim's shadow).
    assert mask[y : y + h, x : x + w].mean() > 0.85
    board = (slice(200, 600), slice(760, 880))
    assert pm.bias[board].mean() > 40  # bright ...
    assert mask[board].mean() < 0.01  # ... but not fringed: excluded
    assert mask[800:, :].mean() < 0.03  # dark floor excluded
    # Two solid regions (board and lens face, split by the rim's shadow), not speckle.
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    areas = np.sort(stats[1:, cv2.CC_STAT_AREA])[::-1]
    assert areas[:2].sum() > 0.99 * mask.sum()
    # Saturation handling: pretend the brightest 1 % is clipped.
    sat = float(np.percentile(pm.peak, 99))
    m2 = quality_mask(pm, min_modulation=10.0, saturation=sat)
    assert not m2[pm.peak >= sat].any()


def test_projector_gamma_fit_recovers_gamma_and_fixes_ripple() -> None:
    from psfbench.core.fringe.gamma import GammaFitError, fit_projector_gamma

    rng = np.random.default_rng(0)
    levels = np.linspace(0.0, 1.0, 17)
    true_gamma = 2.2
    responses = 12.0 + 200.0 * levels**true_gamma + rng.normal(0, 0.5, levels.size)
    fit = fit_projector_gamma(levels, responses)
    assert abs(fit.gamma - true_gamma) < 0.03
    assert abs(fit.offset - 12.0) < 1.0 and fit.rms < 1.0
    # Patterns pre-compensated with the *fitted* gamma give a ripple-free phase.
    w = 512
    truth = 2 * np.pi * 8 * np.arange(w) / w
    shown = np.power(fringe_patterns(w, 2, (8.0,), 4, gamma=fit.gamma), true_gamma)
    assert _wrapdiff(wrapped_phase(shown).phase[0], truth).max() < 1e-3
    with pytest.raises(GammaFitError):
        fit_projector_gamma([0.0, 1.0], [1.0, 2.0])
