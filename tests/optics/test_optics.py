"""Thin-lens formulas against hand-computed values, and the error/masking rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from psfbench.core import optics
from psfbench.core.optics import OpticsError


def test_focus_depth_hand_value() -> None:
    # v = 31.4 + 23.6 = 55 mm, F = 50 mm: Df = 50 * 55 / 5 = 550 mm
    assert optics.focus_depth(31.4, 23.6, 50.0) == pytest.approx(550.0)


def test_focus_depth_inverts_sensor_distance() -> None:
    df = np.array([300.0, 500.0, 1200.0])
    v = optics.sensor_distance(df, 50.0)
    np.testing.assert_allclose(optics.focus_depth(v - 23.6, 23.6, 50.0), df)


def test_focus_depth_matches_all_in_3d_formula() -> None:
    # The authors compute fd = 1 / (1/50 - 1/(v + 23.6)) from sensor readings v.
    d = np.linspace(27.0, 40.0, 7)
    expected = 1.0 / (1.0 / 50.0 - 1.0 / (d + 23.6))
    np.testing.assert_allclose(optics.focus_depth(d, 23.6, 50.0), expected)


@pytest.mark.parametrize("d", [26.4, 20.0, -5.0])
def test_focus_depth_inside_focal_length_is_an_error(d: float) -> None:
    with pytest.raises(OpticsError, match="focal length"):
        optics.focus_depth(d, 23.6, 50.0)


def test_sigma_map_hand_value() -> None:
    # A |Dgt - Df| / Dgt * F / (Df - F) = 800 * 100/600 * 50/450
    assert optics.sigma_map(600.0, 500.0, 800.0, 50.0) == pytest.approx(800 / 6 * 50 / 450)
    assert optics.sigma_map(500.0, 500.0, 800.0, 50.0) == 0.0


def test_coc_eq3_and_sigma_relation() -> None:
    F, N, rho, s, omega = 50.0, 1.4, 3.45e-3, 1.0, 0.48
    c = optics.coc_pixels(600.0, 500.0, F, F / N, rho, s)
    A = optics.datasheet_A(F, N, rho, s, omega)
    assert c == pytest.approx(F / N / rho * (100 / 600) * (50 / 450))
    assert optics.sigma_map(600.0, 500.0, A, F) == pytest.approx(omega * c)


def test_sigma_map_torch_batch_broadcast_and_nan_mask() -> None:
    depth = torch.tensor([[400.0, math.nan], [600.0, 500.0]])
    df = torch.tensor([500.0, 600.0]).view(2, 1, 1)
    sig = optics.sigma_map(depth, df, 800.0, 50.0)
    assert sig.shape == (2, 2, 2)
    assert torch.isfinite(sig).all()
    assert sig[0, 0, 1] == 0 and sig[1, 0, 1] == 0
    assert sig[0, 1, 1] == 0  # in focus
    assert sig[1, 1, 0] == 0
    np.testing.assert_array_equal(
        optics.valid_depth_mask(depth).numpy(), [[True, False], [True, True]]
    )


def test_sigma_map_numpy_nan_becomes_zero_not_nan() -> None:
    depth = np.array([[np.nan, 450.0]])
    sig = optics.sigma_map(depth, 500.0, 800.0, 50.0)
    assert np.isfinite(sig).all() and sig[0, 0] == 0 and sig[0, 1] > 0


@pytest.mark.parametrize("bad", [0.0, -10.0])
def test_non_positive_depth_is_an_error(bad: float) -> None:
    with pytest.raises(OpticsError, match="non-positive"):
        optics.sigma_map(np.array([500.0, bad]), 500.0, 800.0, 50.0)


@pytest.mark.parametrize("df", [50.0, 30.0])
def test_focus_depth_at_or_inside_F_is_an_error(df: float) -> None:
    with pytest.raises(OpticsError, match="exceed the focal length"):
        optics.sigma_map(np.array([500.0]), df, 800.0, 50.0)


def test_datasheet_A_eq6_with_a_equal_F_over_N() -> None:
    # a = F/N = 35.71 mm; A = a * omega / (rho * s) = 35.71 * 0.48 / 0.00345 = 4968.9
    assert optics.datasheet_A(50.0, 1.4, 3.45e-3, 1.0, 0.48) == pytest.approx(4968.94, abs=0.01)


def test_paper_datasheet_figure_6959_comes_from_a_equal_F() -> None:
    """The paper's Table 3 uses A = 6959 for F=50, N=1.4, rho=3.45um, s=1, omega=0.48.

    Eq. 6 with a = F/N gives 4969; the paper's figure is reproduced (to 0.04 %, the rest being
    rounding of rho or omega in their arithmetic) only by dropping the f-number, a = F.
    """
    paper = optics.paper_datasheet_A(50.0, 3.45e-3, 1.0, 0.48)
    assert paper == pytest.approx(6959, rel=5e-4)
    assert optics.datasheet_A(50.0, 1.4, 3.45e-3) == pytest.approx(6959 / 1.4, rel=5e-4)


def test_negative_A_is_an_error() -> None:
    with pytest.raises(OpticsError):
        optics.sigma_map(600.0, 500.0, -1.0, 50.0)
