"""``psfbench info``: versions and compute devices, for bug reports and lab PC checks."""

from __future__ import annotations

import argparse
import json
import platform


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print versions and available compute devices")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--devices",
        action="store_true",
        help="also list the pylon transport layers, Basler cameras and serial ports",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy
    import torch

    from psfbench.core import __version__

    info = {
        "psfbench": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    if args.devices:
        info.update(_devices())
    if args.json:
        print(json.dumps(info))
    else:
        width = max(len(k) for k in info)
        for k, v in info.items():
            print(f"{k:{width}s} {v}")
    return 0


def _devices() -> dict[str, object]:
    """What a lab PC can see: pylon's transport layers (empty in a broken bundle) and cameras
    (``PYLON_CAMEMU=N`` adds emulated ones), and the serial ports (the focus controller)."""
    from psfbench.core.devices.flashing import serial_ports

    out: dict[str, object] = {}
    try:
        from psfbench.core.devices import basler

        out["pylon_transport_layers"] = basler.transport_layers()
        out["basler_cameras"] = [f"{c['name']} [{c['serial']}]" for c in basler.enumerate_cameras()]
    except Exception as exc:  # pypylon missing or failing: say so, list the rest
        out["pylon_transport_layers"] = f"unavailable: {exc}"
    out["serial_ports"] = [f"{dev} ({desc})" for dev, desc in serial_ports()]
    return out
