from __future__ import annotations

import json

from psfbench.core.cli import main


def test_info_json(capsys) -> None:
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["psfbench"]
    assert "cuda_available" in info
