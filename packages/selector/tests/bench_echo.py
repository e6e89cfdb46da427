"""Echo benchmark for the sock_* hot path: ``sock_recv``/``sock_sendall`` ping-pong over
loopback TCP, client and server on the same loop.

Compares layerloop on every usable backend with stdlib asyncio (on the matching
selector) and uvloop when installed.  Time is the process's CPU time (user + system),
which a busy shared machine disturbs far less than wall-clock time; everything runs in
this one process, so it counts the loops' work and their system calls.  Not a test; run
it by hand::

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
    start = time.process_time()
    for _ in range(rounds):
        await sendall(client, message)
        got = 0
        while got < size:
            got += len(await recv(client, 65536))
    elapsed = time.process_time() - start
    client.close()
    await server_task
    server.close()
    listener.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    made = factories()
    best = dict.fromkeys(made, float("inf"))
    # Round-robin over the loops, keeping each one's best run: a burst of load from
    # elsewhere on the machine then hurts every loop alike instead of one of them.
    for _ in range(args.repeat):
        for name, factory in made.items():
            loop = factory()
            try:
                elapsed = loop.run_until_complete(echo_rounds(loop, args.rounds, args.size))
            finally:
                loop.close()
            best[name] = min(best[name], elapsed)
    results = {name: args.rounds / elapsed for name, elapsed in best.items()}
    base = results.get("asyncio-epoll") or next(
        v for k, v in results.items() if k.startswith("asyncio")
    )
    print(f"echo {args.size} B, {args.rounds} round trips, best of {args.repeat}")
    uv = results.get("uvloop")
    for name, rate in results.items():
        line = f"  {name:18} {rate:10.0f} round trips/s   {rate / base:5.2f}x asyncio-epoll"
        if name.startswith("layerloop-"):
            same = results.get("asyncio-" + name.removeprefix("layerloop-"))
            if same:
                line += f"   {rate / same:5.2f}x asyncio on the same mechanism"
            if uv:
                line += f"   {rate / uv:5.2f}x uvloop"
        print(line)


if __name__ == "__main__":
    main()
