"""Scheduler micro-benchmarks: layerloop-core against asyncio (and uvloop when installed).

    python packages/core/bench/bench_scheduler.py [REPEAT] [--wall]

Each benchmark runs REPEAT times per loop, interleaved so that a load spike on a shared
machine hits every loop alike, and the best time is kept.  Every run starts right after a
full garbage collection: several benchmarks keep 10^5 handles alive, so how much the
collector has to walk depends on what earlier runs left behind.  The clock is the process's
CPU time (all threads) unless ``--wall`` is given.  layerloop runs on
``layerloop_selector.EpollBackend`` when that package is installed, else on the
``selectors``-based fake backend of core's tests.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from layerloop_core import EventLoop

try:
    from layerloop_selector import EpollBackend as Backend
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from core_fakes import FakeBackend as Backend  # type: ignore[assignment]

N = 200_000
CLOCK = time.perf_counter if "--wall" in sys.argv else time.process_time


def bench_call_soon(loop: asyncio.AbstractEventLoop) -> float:
    """N call_soon calls from one callback, then the N callbacks."""
    count = 0

    def callback() -> None:
        nonlocal count
        count += 1

    def schedule() -> None:
        call_soon = loop.call_soon
        for _ in range(N):
            call_soon(callback)
        call_soon(loop.stop)

    started = CLOCK()
    loop.call_soon(schedule)
    loop.run_forever()
    assert count == N
    return CLOCK() - started


def bench_call_soon_chain(loop: asyncio.AbstractEventLoop) -> float:
    """100 chains of callbacks, each scheduling the next with call_soon, N in all.

    Unlike ``call_soon``, the ready queue stays short, so the cost measured is the
    scheduler's rather than the garbage collector's walk over a queue of 200k handles.
    """
    count = 0
    call_soon = loop.call_soon

    def callback() -> None:
        nonlocal count
        count += 1
        if count < N:
            call_soon(callback)
        elif count == N:
            loop.stop()

    started = CLOCK()
    for _ in range(100):
        call_soon(callback)
    loop.run_forever()
    return CLOCK() - started


def bench_threadsafe(loop: asyncio.AbstractEventLoop) -> float:
    """4 threads post N/4 call_soon_threadsafe callbacks each."""
    threads, each = 4, N // 4
    total = threads * each
    count = 0

    def callback() -> None:
        nonlocal count
        count += 1
        if count == total:
            loop.stop()

    def writer() -> None:
        post = loop.call_soon_threadsafe
        for _ in range(each):
            post(callback)

    workers = [threading.Thread(target=writer) for _ in range(threads)]
    started = CLOCK()
    for worker in workers:
        worker.start()
    loop.run_forever()
    for worker in workers:
        worker.join()
    return CLOCK() - started


def bench_timers(loop: asyncio.AbstractEventLoop) -> float:
    """N call_later + cancel, 1000 per loop iteration."""

    def callback() -> None:
        pass

    async def main() -> None:
        call_later = loop.call_later
        for _ in range(N // 1000):
            for _ in range(1000):
                call_later(10.0, callback).cancel()
            await asyncio.sleep(0)

    started = CLOCK()
    loop.run_until_complete(main())
    return CLOCK() - started


def bench_sleep0(loop: asyncio.AbstractEventLoop) -> float:
    """1000 tasks doing 100 ``await asyncio.sleep(0)`` each."""

    async def worker() -> None:
        for _ in range(100):
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*[worker() for _ in range(1000)])

    started = CLOCK()
    loop.run_until_complete(main())
    return CLOCK() - started


def bench_task_create(loop: asyncio.AbstractEventLoop) -> float:
    """N/4 times: create a task and await it."""

    async def child() -> int:
        return 1

    async def main() -> None:
        create_task = loop.create_task
        for _ in range(N // 4):
            await create_task(child())

    started = CLOCK()
    loop.run_until_complete(main())
    return CLOCK() - started


def factories() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    found: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "layerloop": lambda: EventLoop(Backend()),
        "asyncio": asyncio.new_event_loop,
    }
    try:
        import uvloop  # noqa: PLC0415 - optional
    except ImportError:
        pass
    else:
        found["uvloop"] = uvloop.new_event_loop
    return found


BENCHMARKS = [
    bench_call_soon,
    bench_call_soon_chain,
    bench_threadsafe,
    bench_timers,
    bench_sleep0,
    bench_task_create,
]


def main(argv: list[str]) -> None:
    repeat = next((int(a) for a in argv if a.isdigit()), 5)
    loops = factories()
    print(
        f"python {sys.version.split()[0]}, layerloop on {Backend.__name__}, "
        f"best of {repeat}, clock {CLOCK.__name__}"
    )
    for bench in BENCHMARKS:
        times: dict[str, list[float]] = {name: [] for name in loops}
        for _ in range(repeat):
            for name, factory in loops.items():
                loop = factory()
                gc.collect()
                try:
                    times[name].append(bench(loop))
                finally:
                    loop.close()
        best = {name: min(values) for name, values in times.items()}
        base = best["asyncio"]
        cells: list[Any] = [f"{name}={value * 1e3:7.1f}ms" for name, value in best.items()]
        ratios = [
            f"{name} {base / value:.2f}x" for name, value in best.items() if name != "asyncio"
        ]
        print(f"{bench.__name__[6:]:<12} {'  '.join(cells)}   vs asyncio: {', '.join(ratios)}")


if __name__ == "__main__":
    main(sys.argv[1:])
