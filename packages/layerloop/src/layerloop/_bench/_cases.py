"""The benchmarks: each drives a loop it is given through *n* operations and times them.

Every case is the same code for every loop (layerloop on each backend, asyncio, uvloop):
it uses only the public ``asyncio.AbstractEventLoop`` API.  A case returns
``(operations done, seconds)``; setup (sockets, threads, precomputed arguments) happens
before the clock starts and teardown after it stops.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._dns_cases import DNS_CASES
from ._io_cases import IO_CASES, IO_MINIMUM
from ._many_cases import MANY_CASES, MANY_MINIMUM
from ._proc_cases import PROCESS_CASES

__all__ = ["CASES", "Case"]

Result = tuple[int, float]


def _noop() -> None:
    pass


# -- call_soon: schedule and run plain callbacks --------------------------------------

_CALL_SOON_BATCH = 1000


def call_soon(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """Batches of 1000 ``call_soon(noop)``; a driver callback schedules the next batch."""
    rounds = max(1, n // _CALL_SOON_BATCH)
    left = [rounds]
    schedule = loop.call_soon

    def driver() -> None:
        if left[0] == 0:
            loop.stop()
            return
        left[0] -= 1
        for _ in range(_CALL_SOON_BATCH):
            schedule(_noop)
        schedule(driver)

    schedule(driver)
    started = time.perf_counter()
    loop.run_forever()
    return rounds * _CALL_SOON_BATCH, time.perf_counter() - started


# -- call_soon_threadsafe from other threads ------------------------------------------

_THREADS = 4


def call_soon_threadsafe(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """Four threads each call ``call_soon_threadsafe(cb)`` n/4 times as fast as they can;
    the clock stops when the loop has run every callback."""
    per_thread = max(1, n // _THREADS)
    total = per_thread * _THREADS
    done = [0]

    def callback() -> None:
        done[0] += 1
        if done[0] == total:
            loop.stop()

    start = threading.Barrier(_THREADS + 1)

    def worker() -> None:
        schedule = loop.call_soon_threadsafe
        start.wait()
        for _ in range(per_thread):
            schedule(callback)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(_THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    loop.run_forever()
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join()
    return total, elapsed


# -- timers: schedule and cancel ------------------------------------------------------

_TIMER_BATCH = 500


def timer_churn(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """Rounds of 500 ``call_later`` with distinct delays, all cancelled, then one loop
    iteration (where a loop drops cancelled timers)."""
    rounds = max(1, n // _TIMER_BATCH)
    delays = [10.0 + i * 1e-3 for i in range(_TIMER_BATCH)]

    async def churn() -> float:
        later = loop.call_later
        started = time.perf_counter()
        for _ in range(rounds):
            handles = [later(delay, _noop) for delay in delays]
            for handle in handles:
                handle.cancel()
            await asyncio.sleep(0)
        return time.perf_counter() - started

    return rounds * _TIMER_BATCH, loop.run_until_complete(churn())


# -- asyncio.sleep(0) across many tasks ----------------------------------------------

_SLEEPERS = 100


async def _sleeper(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def sleep_zero(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """100 tasks each ``await asyncio.sleep(0)`` n/100 times."""
    each = max(1, n // _SLEEPERS)

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*[_sleeper(each) for _ in range(_SLEEPERS)])
        return time.perf_counter() - started

    return each * _SLEEPERS, loop.run_until_complete(main())


# -- create a task and await it -------------------------------------------------------


async def _trivial() -> None:
    pass


def task_create_await(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """``await loop.create_task(trivial())``, one after another."""

    async def main() -> float:
        create = loop.create_task
        started = time.perf_counter()
        for _ in range(n):
            await create(_trivial())
        return time.perf_counter() - started

    return n, loop.run_until_complete(main())


# -- sock_sendall/sock_recv echo over loopback TCP ------------------------------------

_MESSAGE = b"x" * 1024


def sock_echo(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """Round trips of a 1 KiB message to an echo task over a loopback TCP connection,
    all through ``sock_sendall``/``sock_recv``."""

    async def main() -> float:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.setblocking(False)
            client.setblocking(False)
            accepting = asyncio.ensure_future(loop.sock_accept(listener))
            await loop.sock_connect(client, listener.getsockname())
            server, _ = await accepting
        finally:
            listener.close()
        with server, client:
            for sock in (server, client):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            server.setblocking(False)

            async def echo() -> None:
                while data := await loop.sock_recv(server, 65536):
                    await loop.sock_sendall(server, data)

            echoing = asyncio.ensure_future(echo())
            size = len(_MESSAGE)
            started = time.perf_counter()
            for _ in range(n):
                await loop.sock_sendall(client, _MESSAGE)
                received = 0
                while received < size:
                    received += len(await loop.sock_recv(client, 65536))
            elapsed = time.perf_counter() - started
            client.shutdown(socket.SHUT_WR)
            await echoing
        return elapsed

    return n, loop.run_until_complete(main())


# -- getaddrinfo of IP literals -------------------------------------------------------

#: Distinct literals the getaddrinfo case cycles through: enough that no resolver can
#: answer the run from a small cache of recent answers, the same sequence for every loop.
_LITERALS = 4096


def _numeric_queries() -> list[tuple[str, int]]:
    """4096 distinct (host, port) pairs: 7/8 IPv4, 1/8 IPv6 literals, varied ports."""
    queries = []
    for i in range(_LITERALS):
        port = 1024 + (i * 7919) % 64000
        if i % 8 == 7:
            host = f"2001:db8:{i % 97:x}::{i:x}"
        else:
            host = f"10.{(i >> 12) & 255}.{(i >> 6) & 63}.{(i * 37) & 255}"
        queries.append((host, port))
    return queries


def getaddrinfo_numeric(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """``await loop.getaddrinfo(host, port, type=SOCK_STREAM)``, one after another, over
    4096 distinct IPv4 and IPv6 literals with distinct ports (as a client connecting to
    many peers by address would)."""
    queries = _numeric_queries()
    count = len(queries)

    async def main() -> float:
        resolve = loop.getaddrinfo
        stream = socket.SOCK_STREAM
        started = time.perf_counter()
        for i in range(n):
            host, port = queries[i % count]
            await resolve(host, port, type=stream)
        return time.perf_counter() - started

    return n, loop.run_until_complete(main())


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    run: Callable[[asyncio.AbstractEventLoop, int], Result]
    #: Smallest meaningful operation count (one batch, one op per task...).
    minimum: int
    #: What the issue asks of layerloop, as a ratio to asyncio (ops/s).
    target: float
    description: str
    #: Payload bytes per operation (an echoed message), 0 where MB/s means nothing.
    payload: int = 0
    #: An I/O benchmark: counted in the geometric mean of the I/O results.
    io: bool = False
    #: Runs for a duration, not a count: *n* is milliseconds (``wrk`` takes a duration).
    timed: bool = False


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case("call_soon", call_soon, _CALL_SOON_BATCH, 1.5, "call_soon + run, batches of 1000"),
        Case(
            "call_soon_threadsafe",
            call_soon_threadsafe,
            _THREADS,
            5.0,
            "call_soon_threadsafe from 4 threads",
        ),
        Case("timers", timer_churn, _TIMER_BATCH, 1.5, "call_later + cancel, batches of 500"),
        Case("sleep0", sleep_zero, _SLEEPERS, 1.5, "asyncio.sleep(0) in 100 tasks"),
        Case("tasks", task_create_await, 1, 1.0, "create_task + await, one at a time"),
        Case("sock_echo", sock_echo, 1, 1.0, "1 KiB sock_sendall/sock_recv round trips"),
        Case(
            "getaddrinfo",
            getaddrinfo_numeric,
            1,
            20.0,
            "getaddrinfo of 4096 distinct IPv4/IPv6 literals",
        ),
    )
}
CASES.update(
    (
        spec.name,
        Case(
            spec.name,
            spec.run,
            1 if spec.timed else IO_MINIMUM,
            1.0,
            spec.description,
            payload=spec.payload,
            io=True,
            timed=spec.timed,
        ),
    )
    for spec in IO_CASES
)
# Many connections at once: I/O cases with a larger smallest run.
CASES.update(
    (
        spec.name,
        Case(
            spec.name,
            spec.run,
            MANY_MINIMUM,
            1.0,
            spec.description,
            payload=spec.payload,
            io=True,
        ),
    )
    for spec in MANY_CASES
)
# The subprocess and name-resolution benchmarks (not I/O echo cases: no client process).
CASES.update(
    (name, Case(name, run, minimum, target, description, payload=payload))
    for name, run, minimum, target, description, payload in (*PROCESS_CASES, *DNS_CASES)
)
