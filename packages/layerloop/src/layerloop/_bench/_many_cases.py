"""Many connections at once: the echo benchmark with hundreds of clients in lock step.

With :data:`MANY_CONNECTIONS` connections each waiting for its echo, most loop
iterations find dozens of connections ready together, so the cost that matters is the
loop's cost per ready connection inside one iteration: how many system calls it makes
per connection and how well it batches them (one ``epoll_wait`` and a ``recv`` per
connection on a readiness backend; one ``io_uring_enter`` for every completion of the
iteration on io_uring).

The client is the same program as for the other echo cases (:mod:`._client`, run as a
script in its own process).  The server listens with a backlog that holds every
connection of the client's burst of connects, so no connection waits for a SYN
retransmission.  The server's CPU time per round trip is reported like the other I/O
cases' (through :data:`._io_cases.last_server_cpu_per_op`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

from . import _io_cases

__all__ = ["MANY_CASES", "MANY_CONNECTIONS", "MANY_MINIMUM"]

Result = tuple[int, float]

#: Concurrent client connections.
MANY_CONNECTIONS = 500
#: Fewest round trips in one run: 20 per connection, so that the connects and the first
#: round trips of fresh connections do not dominate.
MANY_MINIMUM = 20 * MANY_CONNECTIONS
#: Larger than the client's burst of connects (the kernel caps it at somaxconn).
_BACKLOG = 2 * MANY_CONNECTIONS
_CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_client.py")
_CLIENT_TIMEOUT = 240.0
_POLL_INTERVAL = 0.02


class _Echo(asyncio.Protocol):
    __slots__ = ("transport",)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def _serve_while(proc: subprocess.Popen[str]) -> None:
    while proc.poll() is None:
        await asyncio.sleep(_POLL_INTERVAL)


def many_echo(size: int, loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """*n* lock-step round trips of *size* bytes over :data:`MANY_CONNECTIONS` TCP
    connections to a ``Protocol`` echo server."""
    _io_cases.last_server_cpu_per_op = None
    cpu = [0.0]

    async def main() -> str:
        server = await loop.create_server(_Echo, "127.0.0.1", 0, backlog=_BACKLOG)
        try:
            host, port = server.sockets[0].getsockname()[:2]
            command = [
                sys.executable, _CLIENT, "tcp", f"{host}:{port}",
                str(MANY_CONNECTIONS), str(size), str(n),
            ]  # fmt: skip
            proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            try:
                cpu[0] = -time.process_time()
                await asyncio.wait_for(_serve_while(proc), _CLIENT_TIMEOUT)
                cpu[0] += time.process_time()
            finally:
                if proc.poll() is None:
                    proc.kill()
                out, err = proc.communicate()
            if proc.returncode != 0:
                tail = (err.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"client exit status {proc.returncode}: {tail}")
            return out
        finally:
            server.close()
            for _ in range(3):  # let the connections the client dropped finish closing
                await asyncio.sleep(0)

    payload = json.loads(loop.run_until_complete(main()).strip().splitlines()[-1])
    ops, seconds = int(payload["ops"]), float(payload["elapsed"])
    if ops:
        _io_cases.last_server_cpu_per_op = cpu[0] / ops
    return ops, seconds


def _many_echo_1k(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    return many_echo(1024, loop, n)


MANY_CASES: list[_io_cases.IoCaseSpec] = [
    _io_cases.IoCaseSpec(
        "tcp_many_1k",
        _many_echo_1k,
        1024,
        f"TCP echo, Protocol, 1kiB messages, {MANY_CONNECTIONS} clients at once",
    ),
]
