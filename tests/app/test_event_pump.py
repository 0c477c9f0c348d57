from __future__ import annotations

import threading

from psfbench.app.event_pump import EventPump


def test_events_from_four_threads_all_arrive_in_order_per_thread(qtbot) -> None:
    received: list[tuple[int, int]] = []
    pump = EventPump(received.append, interval_ms=5)
    per_thread = 5000

    def work(t: int) -> None:
        for i in range(per_thread):
            pump.post((t, i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    qtbot.waitUntil(lambda: len(received) == 4 * per_thread, timeout=10_000)
    pump.stop()
    for t in range(4):
        seq = [i for (tt, i) in received if tt == t]
        assert seq == list(range(per_thread))


def test_drain_is_bounded_per_tick(qtbot) -> None:
    received: list[int] = []
    pump = EventPump(received.append, interval_ms=10_000, max_batch=100)
    for i in range(250):
        pump.post(i)
    assert pump.drain() == 100
    assert pump.drain() == 100
    assert pump.drain() == 50
    assert received == list(range(250))
    pump.stop()
