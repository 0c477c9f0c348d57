import numpy as np
import pytest
import torch

from psfbench.core import optics
from psfbench.core.optics import OpticsError
from psfbench.core.render import RenderError, blur_refcode, blur_scatter, render


def _inputs(h=24, w=28):
    rng = np.random.default_rng(8)
    aif = rng.random((3, h, w)).astype(np.float32)
    depth = np.linspace(480.0, 520.0, w)[None, :].repeat(h, 0)
    return aif, depth


@pytest.mark.parametrize("method", ["layered", "scatter", "refcode"])
def test_shapes_follow_the_contract(method):
    aif, depth = _inputs()
    one = render(aif, depth, 500.0, 300.0, 50.0, method=method)
    assert isinstance(one, torch.Tensor) and one.shape == (3, 24, 28)
    mono = render(aif[0], depth, 500.0, 300.0, 50.0, method=method)
    assert mono.shape == (24, 28)
    batch = render(aif[0], depth, [490.0, 500.0], 300.0, 50.0, method=method)
    assert batch.shape == (2, 1, 24, 28)
    torch.testing.assert_close(batch[1, 0], mono)


def test_render_uses_the_optics_sigma_map():
    aif, depth = _inputs()
    sigma = optics.sigma_map(depth, 505.0, 300.0, 50.0)
    torch.testing.assert_close(
        render(aif, depth, 505.0, 300.0, 50.0, method="scatter"),
        blur_scatter(aif, sigma),
    )
    torch.testing.assert_close(
        render(aif, depth, 505.0, 300.0, 50.0, method="refcode"), blur_refcode(aif, sigma)
    )


def test_nan_depth_is_rendered_in_focus_without_nans():
    aif, depth = _inputs()
    depth[5:9, 5:9] = np.nan
    for method in ("layered", "scatter", "refcode"):
        out = render(aif, depth, 500.0, 300.0, 50.0, method=method)
        assert bool(torch.isfinite(out).all())
    # A hole in an in-focus plane: every pixel has sigma 0, so the image comes back unchanged.
    flat = np.full((24, 28), 500.0)
    flat[3:6, 3:6] = np.nan
    out = render(aif, flat, 500.0, 300.0, 50.0)
    torch.testing.assert_close(out, torch.from_numpy(aif))


def test_optics_errors_propagate():
    aif, depth = _inputs()
    with pytest.raises(OpticsError):
        render(aif, depth, 40.0, 300.0, 50.0)
    with pytest.raises(OpticsError):
        render(aif, -depth, 500.0, 300.0, 50.0)
    with pytest.raises(RenderError, match="method"):
        render(aif, depth, 500.0, 300.0, 50.0, method="magic")


def test_device_argument_places_output(device):
    aif, depth = _inputs()
    out = render(torch.from_numpy(aif), depth, 500.0, 300.0, 50.0, device=device)
    assert out.device.type == device
