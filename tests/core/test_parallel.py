"""The shared per-image thread pool: results in order, exceptions, nesting, resizing, fork."""

from __future__ import annotations

import multiprocessing as mp
import threading

import pytest
import torch

from psfbench.core.parallel import map_images


def test_results_in_order_and_exceptions_propagate() -> None:
    assert map_images(lambda x: x * x, range(7)) == [0, 1, 4, 9, 16, 25, 36]

    def boom(x: int) -> int:
        if x == 2:
            raise RuntimeError("boom")
        return x

    with pytest.raises(RuntimeError, match="boom"):
        map_images(boom, range(5))


def test_nested_calls_run_serially_instead_of_deadlocking() -> None:
    def outer(x: int) -> int:
        return sum(map_images(lambda y: y + x, range(3)))

    assert map_images(outer, range(4)) == [3, 6, 9, 12]


def test_changing_the_thread_count_does_not_break_running_callers() -> None:
    old = torch.get_num_threads()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                assert map_images(lambda x: x + 1, range(4)) == [1, 2, 3, 4]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    try:
        for n in (1, 2, 3, 2):
            torch.set_num_threads(n)
            map_images(lambda x: x, range(4))
    finally:
        torch.set_num_threads(old)
        t.join()
    assert not errors


def _child(q: mp.Queue) -> None:
    q.put(map_images(lambda x: x + 1, range(4)))


def test_a_forked_child_gets_its_own_pool() -> None:
    map_images(lambda x: x, range(4))  # the parent's pool exists
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(timeout=30)
    assert p.exitcode == 0
    assert q.get(timeout=5) == [1, 2, 3, 4]
