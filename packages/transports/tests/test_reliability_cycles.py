"""10,000 connect/close cycles leak no file descriptor and no task, on every loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from reliability_helpers import full_or_small, loop_label
from transports_helpers import open_fds

CONCURRENCY = 32


class _CountingServer(asyncio.Protocol):
    """Server side of a cycle: closes on end of stream; counts what it saw."""

    made = 0
    lost = 0
    received = 0

    def connection_made(self, transport: Any) -> None:
        _CountingServer.made += 1

    def data_received(self, data: bytes) -> None:
        _CountingServer.received += len(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        _CountingServer.lost += 1


class _Client(asyncio.Protocol):
    def __init__(self) -> None:
        self.closed: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed.set_result(exc)


async def _server_lost(count: int, timeout: float = 10.0) -> None:
    """Wait (at most *timeout* seconds) until the server has lost *count* connections."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while _CountingServer.lost < count and loop.time() < deadline:
        await asyncio.sleep(0.005)


def test_connect_close_cycles_leak_nothing(loop: asyncio.AbstractEventLoop) -> None:
    """10,000 connections (32 at a time) each write a byte and close: afterwards the
    process has no more descriptors open than before, the server saw every connection
    made and lost, and no task is left behind.  10,000 on the layerloop backend chosen
    for this Python (``FULL_SIZE_BACKEND``, rotating with the Python version), 1,000 on
    the other loops; 10,000 everywhere with LAYERLOOP_SOAK=1."""
    cycles = full_or_small(loop, 10_000, 1_000)

    async def cycle(port: int, count: int) -> None:
        for _ in range(count):
            transport, client = await loop.create_connection(_Client, "127.0.0.1", port)
            transport.write(b"x")
            transport.close()
            assert await client.closed is None

    async def main() -> None:
        _CountingServer.made = _CountingServer.lost = _CountingServer.received = 0
        server = await loop.create_server(_CountingServer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        await cycle(port, 3)  # warm up lazily created resources before counting
        await _server_lost(3)
        fds_before = open_fds()
        tasks_before = asyncio.all_tasks()
        start = time.perf_counter()
        per_task = (cycles - 3) // CONCURRENCY
        workers = [cycle(port, per_task) for _ in range(CONCURRENCY)]
        await asyncio.gather(*workers, cycle(port, cycles - 3 - per_task * CONCURRENCY))
        await _server_lost(cycles)  # the server side closes on end of stream
        elapsed = time.perf_counter() - start
        assert _CountingServer.made == _CountingServer.lost == cycles
        assert _CountingServer.received == cycles
        assert open_fds() <= fds_before
        assert asyncio.all_tasks() == tasks_before
        server.close()
        await server.wait_closed()
        print(f"{loop_label(loop)}: {cycles} cycles in {elapsed:.2f} s")

    fds_at_start = open_fds()
    loop.run_until_complete(main())
    # The listening socket is gone too.
    assert open_fds() <= fds_at_start
