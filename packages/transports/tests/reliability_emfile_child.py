"""The child process of ``test_reliability_emfile.py``: a server whose accept runs out of
descriptors.

``python reliability_emfile_child.py LOOP`` (``LOOP`` as in ``conftest.LOOP_FACTORIES``:
``layerloop-epoll``, ``asyncio-poll``...) lowers its own ``RLIMIT_NOFILE``, starts an echo
server, fills the descriptor table, connects a client (a connect needs no new
descriptor), lets the accept fail with ``EMFILE``, frees the descriptors, and prints
what happened as one JSON object on stdout for the test to check.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import selectors
import socket
import sys
import time
from typing import Any

from transports_helpers import new_loop

FD_LIMIT = 256
#: When the descriptors are given back, counted from the first report.
FREE_AFTER = 0.3
#: How long a listener backs off after EMFILE (ACCEPT_RETRY_DELAY, as in CPython).
RETRY_DELAY = 1.0


def make_loop(name: str) -> asyncio.AbstractEventLoop:
    kind, _, backend = name.partition("-")
    if kind == "layerloop":
        return new_loop(backend)
    selector = {
        "epoll": "EpollSelector",
        "kqueue": "KqueueSelector",
        "poll": "PollSelector",
        "select": "SelectSelector",
    }[backend]
    return asyncio.SelectorEventLoop(getattr(selectors, selector)())


class Echo(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def exchange(loop: asyncio.AbstractEventLoop, sock: socket.socket, data: bytes) -> bytes:
    await loop.sock_sendall(sock, data)
    got = b""
    while len(got) < len(data):
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 1024), 10)
        if not chunk:
            break
        got += chunk
    return got


async def scenario(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    reports: list[dict[str, Any]] = []
    first_report = loop.create_future()

    def handler(_loop: Any, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        reports.append(
            {
                "message": context.get("message"),
                "exception": type(exc).__name__,
                "errno": getattr(exc, "errno", None),
                "has_socket": "socket" in context,
                "at": loop.time(),
            }
        )
        if not first_report.done():
            first_report.set_result(None)

    loop.set_exception_handler(handler)
    server = await loop.create_server(Echo, "127.0.0.1", 0)
    address = server.sockets[0].getsockname()
    client = socket.socket()
    client.setblocking(False)
    # Fill the table: every descriptor number below the limit is now taken.
    filler: list[int] = []
    try:
        while True:
            filler.append(os.open(os.devnull, os.O_RDONLY))
    except OSError as exc:
        assert exc.errno == errno.EMFILE, exc
    await loop.sock_connect(client, address)  # completes in the kernel's backlog
    try:
        await asyncio.wait_for(first_report, 10)
    finally:
        await asyncio.sleep(FREE_AFTER)
        for fd in filler:
            os.close(fd)
    freed_at = loop.time()
    # The pending connection is accepted once the listener resumes.
    echoed = await exchange(loop, client, b"after EMFILE")
    served_at = loop.time()
    # And new connections are served as usual.
    second = socket.socket()
    second.setblocking(False)
    await loop.sock_connect(second, address)
    second_echo = await exchange(loop, second, b"second")
    # asyncio schedules one retry per failed accept() of the batch: let every retry run
    # before closing (a retry after the close fails on the closed socket, in asyncio).
    await asyncio.sleep(max(0.0, reports[-1]["at"] + RETRY_DELAY + 0.2 - loop.time()))
    client.close()
    second.close()
    server.close()
    await server.wait_closed()
    return {
        "filled": len(filler),
        "reports": reports,
        "freed_after_report": freed_at - reports[0]["at"],
        "served_after_report": served_at - reports[0]["at"],
        "echoed": echoed.decode(),
        "second_echo": second_echo.decode(),
    }


def main() -> None:
    name = sys.argv[1]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(FD_LIMIT, soft), hard))
    loop = make_loop(name)
    started = time.monotonic()
    try:
        result = loop.run_until_complete(scenario(loop))
    finally:
        loop.close()
    result["seconds"] = time.monotonic() - started
    print(json.dumps(result))


if __name__ == "__main__":
    main()
