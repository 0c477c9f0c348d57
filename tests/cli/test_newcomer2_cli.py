"""Second newcomer trial on the command line: batch fit's table tells sessions of one name
apart, a local cluster names a dashboard that really runs (on 127.0.0.1), help texts are
plain and give defaults, and sessions of the virtual bench record the lens's f-number."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest

from psfbench.core.batch.fit import SessionOutcome, display_names, format_report
from psfbench.core.cli import main


def test_batch_table_tells_sessions_of_one_name_apart() -> None:
    assert display_names(["sims/s3", "other/s3", "a/s1"]) == ["sims/s3", "other/s3", "s1"]
    assert display_names(["/x/sims/s3", "/y/sims/s3"]) == ["x/sims/s3", "y/sims/s3"]
    assert display_names(["s3", "sub/s3"]) == ["s3", "sub/s3"]
    table = format_report(
        [
            SessionOutcome("sims/s3", A=800.0, e=23.6, A_std=1.0, e_std=0.001, loss=1.0),
            SessionOutcome("other/s3", error="FitSetupError: no depth map"),
            SessionOutcome("sims/s4", A=790.0, e=23.6, warnings=["at the grid's edge"]),
        ]
    )
    rows = table.splitlines()
    assert rows[2].startswith("sims/s3 ") and rows[3].startswith("other/s3 ")
    assert rows[4].startswith("s4 ") and "[1] s4: at the grid's edge" in table


def _cluster_args(dashboard: str) -> argparse.Namespace:
    return argparse.Namespace(
        scheduler=None, local=1, in_process=True, threads_per_task=1, dashboard=dashboard
    )


def test_an_in_process_cluster_names_its_dashboard_on_this_machine() -> None:
    from psfbench.core.cli.cluster_args import describe, local_dashboard, open_cluster

    with open_cluster(_cluster_args(":0")) as handle:  # any free port
        url = local_dashboard(handle)
        assert url is not None and url.startswith("http://127.0.0.1:") and url.endswith("/status")
        assert url.split(":")[2] != "0/status"  # the port it got
        assert describe(handle, _cluster_args(":0")).endswith(f"dashboard: {url}")
    with open_cluster(_cluster_args("none")) as handle:
        assert local_dashboard(handle) is None
        assert describe(handle, _cluster_args("none")).endswith("dashboard: none")


def test_no_dashboard_is_named_where_none_runs() -> None:
    from psfbench.core.cli.cluster_args import local_dashboard

    def handle(apps: list[object], off: bool = False) -> SimpleNamespace:
        server = SimpleNamespace(port=8787, _sockets={})
        scheduler = SimpleNamespace(
            services={"dashboard": server}, http_application=SimpleNamespace(applications=apps)
        )
        cluster = SimpleNamespace(scheduler=scheduler)
        return SimpleNamespace(client=SimpleNamespace(cluster=cluster), dashboard_off=off)

    assert local_dashboard(handle([])) is None  # bokeh missing: Dask serves no dashboard
    assert local_dashboard(handle([object()], off=True)) is None
    assert local_dashboard(handle([object()])) == "http://127.0.0.1:8787/status"


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


def test_help_texts_are_plain_and_give_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(["psf"], capsys)
    assert "export writes its parameters and a bank of its kernels" in " ".join(text.split())
    assert "``" not in _help(["fringe", "decode"], capsys)
    text = " ".join(_help(["calibrate", "procam"], capsys).split())
    for default in (
        "(default 9x7)",
        "(default 75)",
        "(default 1024x768)",
        "(default 1)",
        "(default 40)",
        "(default 5)",
    ):
        assert default in text


def test_sessions_record_the_lens_f_number() -> None:
    from psfbench.core.acquisition import FocusSweepPlan
    from psfbench.core.acquisition.bench_io import session_meta
    from psfbench.core.config.profiles import parse_profile
    from psfbench.core.devices.factory import open_bench

    small = {"width": 48, "height": 32, "time_scale": 0.01}
    plan = FocusSweepPlan(positions=(0, 400), settle_s=0.0)
    cases = [
        (open_bench("virtual", virtual_overrides=small), 1.4),  # the virtual lens's
        (open_bench("virtual", virtual_overrides={**small, "f_number": None}), None),
        # a profile that states the lens's f-number: that one
        (open_bench(parse_profile({"lens": {"f_number": 2.8}, "virtual": small}, "t")), 2.8),
    ]
    for bench, expected in cases:
        try:
            assert session_meta(bench, plan)["lens"]["f_number"] == expected
        finally:
            bench.close()


def test_sessions_record_the_profiles_focal_length() -> None:
    """A real bench's session takes F from the profile's [lens] focal_length_mm (it was always
    50 mm, silently); a virtual world's own F wins (it renders with it)."""
    from types import SimpleNamespace

    from psfbench.core.acquisition.bench_io import _focal_length

    def bench(f_mm: float | None) -> SimpleNamespace:
        lens = SimpleNamespace(focal_length_mm=f_mm)
        return SimpleNamespace(info=SimpleNamespace(settings=SimpleNamespace(lens=lens)))

    world = SimpleNamespace(settings=SimpleNamespace(F_mm=50.0))
    assert _focal_length(bench(35.0), None) == 35.0
    assert _focal_length(bench(None), None) is None  # session_meta then notes "unknown"
    assert _focal_length(bench(35.0), world) == 50.0
