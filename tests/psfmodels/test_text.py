"""Parameter text of the PSF models (core/psfmodels/text.py): values to their uncertainty's
precision, undetermined sds, and no torch on import (the GUI's session browser uses it)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from psfbench.core.psfmodels.text import format_params, format_value, model_summary


@pytest.mark.parametrize(
    ("value", "sd", "text"),
    [
        (807.5612, 4.0, "808±4"),
        (809.55, 3.7, "810±4"),
        (809.56, 2.4, "809.6±2.4"),
        (0.027813, 0.011, "0.028±0.011"),
        (23.603012, 0.00089, "23.6030±0.0009"),
        (23.6052, 0.00064, "23.6052±0.0006"),
        (1.00050, 0.00098, "1.0005±0.0010"),
        (990.63, 120.0, "990±120"),
        (12345.0, 4400.0, "12000±4000"),
        (0.99808, math.nan, "0.99808±?"),
        (1.000512, None, "1.0005"),
        (5.0, 0.0, "5"),
    ],
)
def test_format_value(value: float, sd: float | None, text: str) -> None:
    assert format_value(value, sd) == text


def test_format_params_of_model_json_with_lists_and_undetermined_sd() -> None:
    doc = {
        "name": "chromatic",
        "params": {"A": 801.37, "e_mm": 23.6012, "chroma": [1.1204, 1.0, 0.8991], "v_ref_mm": 80.0},
        "std": {"A": 3.1, "e_mm": 0.0012, "chroma": [0.0021, 0.0, math.nan]},
    }
    assert format_params(doc) == "A=801.4±3.1 e_mm=23.6012±0.0012 chroma=[1.1204, 1, 0.8991]"
    assert model_summary(doc) == "chromatic: A 801.4, chroma [1.12, 1, 0.899]"


def test_text_module_does_not_load_torch() -> None:
    code = (
        "import sys; import psfbench.core.psfmodels.text, psfbench.core.psfmodels.spec; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_undetermined_sds_are_null_in_json_and_read_back_as_undetermined() -> None:
    """JSON has no NaN (the session readers refuse it: a fit.json holding one broke `defocus
    train --psf`): an sd the fit could not determine is written as null and shown as ±?."""
    import json

    from psfbench.core.dataset.strict_json import loads
    from psfbench.core.psfmodels.spec import PsfModel

    m = PsfModel.create("disc", {"A": 990.6, "e_mm": 23.657, "edge": 0.998}, {"edge": math.nan})
    text = json.dumps(m.to_json())
    doc = loads(text, "psf_model.json")  # strict: NaN would raise
    assert doc["std"]["edge"] is None
    assert format_params(doc).endswith("edge=0.998±?")
