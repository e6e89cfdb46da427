"""Echo benchmark for the sock_* hot path: ``sock_recv``/``sock_sendall`` ping-pong over
loopback TCP, client and server on the same loop.

Compares layerloop on every usable backend with stdlib asyncio (on the matching
selector) and uvloop when installed.  Not a test; run it by hand::

    python packages/selector/tests/bench_echo.py [--rounds N] [--size BYTES] [--repeat R]
"""

from __future__ import annotations

import argparse
import asyncio
import selectors
import socket
import time
from collections.abc import Callable

from layerloop_core import EventLoop
from layerloop_selector import EpollBackend, PollBackend, SelectBackend, available_backends

BACKENDS = {"epoll": EpollBackend, "poll": PollBackend, "select": SelectBackend}
SELECTORS = {
    "epoll": getattr(selectors, "EpollSelector", None),
    "poll": getattr(selectors, "PollSelector", None),
    "select": selectors.SelectSelector,
}


def factories() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    made: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {}
    for name in available_backends():
        if name in BACKENDS:
            made[f"layerloop-{name}"] = lambda n=name: EventLoop(BACKENDS[n]())  # type: ignore[misc]
            sel = SELECTORS[name]
            if sel is not None:
                made[f"asyncio-{name}"] = lambda s=sel: asyncio.SelectorEventLoop(s())  # type: ignore[misc]
    try:
        import uvloop  # noqa: PLC0415

        made["uvloop"] = uvloop.new_event_loop
    except ImportError:
        pass
    return made


async def echo_rounds(loop: asyncio.AbstractEventLoop, rounds: int, size: int) -> float:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    client = socket.socket()
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.setblocking(False)
    accept = loop.create_task(loop.sock_accept(listener))
    await loop.sock_connect(client, listener.getsockname())
    server, _ = await accept
    server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    message = b"x" * size

    async def serve() -> None:
        recv = loop.sock_recv
        sendall = loop.sock_sendall
        while data := await recv(server, 65536):
            await sendall(server, data)

    server_task = loop.create_task(serve())
    recv = loop.sock_recv
    sendall = loop.sock_sendall
    start = time.perf_counter()
    for _ in range(rounds):
        await sendall(client, message)
        got = 0
        while got < size:
            got += len(await recv(client, 65536))
    elapsed = time.perf_counter() - start
    client.close()
    await server_task
    server.close()
    listener.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, float] = {}
    for name, factory in factories().items():
        best = float("inf")
        for _ in range(args.repeat):
            loop = factory()
            try:
                best = min(best, loop.run_until_complete(echo_rounds(loop, args.rounds, args.size)))
            finally:
                loop.close()
        results[name] = args.rounds / best
    base = results.get("asyncio-epoll") or next(
        v for k, v in results.items() if k.startswith("asyncio")
    )
    print(f"echo {args.size} B, {args.rounds} round trips, best of {args.repeat}")
    for name, rate in results.items():
        print(f"  {name:18} {rate:10.0f} round trips/s   {rate / base:5.2f}x asyncio-epoll")


if __name__ == "__main__":
    main()
