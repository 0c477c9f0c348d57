"""Mistyped ``--virtual KEY=VALUE`` settings get an error a user can act on (a newcomer got
pydantic's raw "Extra inputs are not permitted" for a typo)."""

from __future__ import annotations

import pytest

from psfbench.core.bench.settings import VirtualBenchSettings
from psfbench.core.config.profiles import ConfigError
from psfbench.core.devices.factory import virtual_settings


def test_unknown_key_names_the_close_match_and_the_valid_keys() -> None:
    with pytest.raises(ConfigError) as err:
        virtual_settings(VirtualBenchSettings(), {"psf_shap": "disc"}, "built-in")
    msg = str(err.value)
    assert msg.startswith("built-in: unknown virtual bench setting 'psf_shap'")
    assert "did you mean psf_shape?" in msg and "focus_breathing" in msg
    assert "pydantic" not in msg


def test_bad_value_names_the_field_value_and_reason() -> None:
    with pytest.raises(ConfigError, match=r"focus_breathing = 9\.0: Input should be less"):
        virtual_settings(VirtualBenchSettings(), {"focus_breathing": 9.0})


def test_good_overrides_apply() -> None:
    s = virtual_settings(VirtualBenchSettings(), {"width": 64, "sensor_tilt_mm": (0.01, 0.0)})
    assert s.width == 64 and s.sensor_tilt_mm == (0.01, 0.0)
