"""``python -m layerloop demo``: a small real program on layerloop, narrating what it does.

Each step exercises one part of the loop and checks its own outcome; the demo exits with
status 0 only when every check passed.
"""

from __future__ import annotations

import asyncio
import platform
import socket
import sys
import threading
import time
from typing import TextIO

from layerloop_core import EventLoop as CoreEventLoop

from ._loop import BackendSpec, new_event_loop

__all__ = ["demo"]


class _Narrator:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.perf_counter()
        self.checks: list[tuple[str, bool]] = []

    def say(self, text: str) -> None:
        elapsed = (time.perf_counter() - self.started) * 1e3
        print(f"[{elapsed:7.1f} ms] {text}", file=self.out, flush=True)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append((name, ok))
        self.say(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")


async def _timers(n: _Narrator) -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    all_fired = loop.create_future()

    def ring(label: str) -> None:
        fired.append(label)
        n.say(f"     timer {label} fired")
        if len(fired) == 4:
            all_fired.set_result(None)

    n.say("timers: call_later 30 ms (D), 10 ms (B), 20 ms (C) and call_at now+5 ms (A)")
    loop.call_later(0.030, ring, "D")
    loop.call_later(0.010, ring, "B")
    loop.call_later(0.020, ring, "C")
    loop.call_at(loop.time() + 0.005, ring, "A")
    cancelled = loop.call_later(0.015, ring, "X")
    cancelled.cancel()
    await all_fired
    n.check(
        "timers",
        fired == ["A", "B", "C", "D"],
        f"fired in order {''.join(fired)}, the cancelled one never ran",
    )


async def _square(x: int, delay: float) -> int:
    await asyncio.sleep(delay)
    return x * x


async def _tasks(n: _Narrator) -> None:
    n.say("tasks: gather three tasks that finish in reverse order of creation")
    tasks = [
        asyncio.create_task(_square(x, 0.003 * (3 - x)), name=f"square-{x}") for x in (1, 2, 3)
    ]
    results = await asyncio.gather(*tasks)
    n.check("tasks", results == [1, 4, 9], f"gather returned {results} (creation order kept)")


async def _reader(n: _Narrator) -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    with left, right:
        left.setblocking(False)
        got = loop.create_future()

        def readable() -> None:
            data = left.recv(100)
            loop.remove_reader(left)
            if not got.done():
                got.set_result(data)

        n.say(f"add_reader: watching fd {left.fileno()} of a socket pair, then writing b'ping'")
        loop.add_reader(left, readable)
        right.send(b"ping")
        data = await asyncio.wait_for(got, 5)
    n.check("add_reader", data == b"ping", f"reader callback read {data!r}")


async def _echo(n: _Narrator) -> None:
    loop = asyncio.get_running_loop()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        address = listener.getsockname()
        n.say(f"echo: server listening on {address[0]}:{address[1]}, all I/O via loop.sock_*")

        async def serve() -> int:
            conn, _ = await loop.sock_accept(listener)
            echoed = 0
            with conn:
                while data := await loop.sock_recv(conn, 4096):
                    await loop.sock_sendall(conn, data)
                    echoed += len(data)
            return echoed

        server = asyncio.create_task(serve())
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with client:
            client.setblocking(False)
            await loop.sock_connect(client, address)
            replies = []
            for message in (b"hello", b"from", b"layerloop"):
                await loop.sock_sendall(client, message)
                reply = b""
                while len(reply) < len(message):
                    reply += await loop.sock_recv(client, 4096)
                replies.append(reply)
                n.say(f"     sent {message!r}, got back {reply!r}")
            client.shutdown(socket.SHUT_WR)
            echoed = await asyncio.wait_for(server, 5)
    ok = replies == [b"hello", b"from", b"layerloop"] and echoed == 18
    n.check("sock_* echo", ok, f"3 round trips over TCP, server echoed {echoed} bytes")


async def _resolve(n: _Narrator) -> None:
    loop = asyncio.get_running_loop()
    # The first query of a process loads the IDNA codec; time the second.
    await loop.getaddrinfo("127.0.0.1", 80)
    started = time.perf_counter()
    infos = await loop.getaddrinfo("127.0.0.1", 8080, type=socket.SOCK_STREAM)
    took = (time.perf_counter() - started) * 1e6
    family, _, _, _, sockaddr = infos[0]
    n.say(
        f"getaddrinfo('127.0.0.1', 8080): {family.name} {sockaddr} in {took:.0f} us "
        "(an IP literal: answered on the loop thread, no executor)"
    )
    expected = socket.getaddrinfo("127.0.0.1", 8080, 0, socket.SOCK_STREAM)
    n.check("getaddrinfo", infos == expected, "same answer as socket.getaddrinfo")


async def _threadsafe(n: _Narrator) -> None:
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    ran_on = loop.create_future()

    def on_loop(sender: str) -> None:
        n.say(f"     callback from {sender!r} runs on the loop thread")
        ran_on.set_result(threading.get_ident())

    def worker() -> None:
        loop.call_soon_threadsafe(on_loop, threading.current_thread().name)

    n.say("call_soon_threadsafe: a worker thread schedules a callback on the loop")
    thread = threading.Thread(target=worker, name="worker-1")
    thread.start()
    ident = await asyncio.wait_for(ran_on, 5)
    thread.join()
    n.check("call_soon_threadsafe", ident == loop_thread, "the loop woke up and ran it")


async def _main(n: _Narrator) -> None:
    loop = asyncio.get_running_loop()
    resolver = getattr(loop, "resolver", None)
    n.say(f"running on {loop!r}, resolver {type(resolver).__name__}")
    n.check("layerloop", isinstance(loop, CoreEventLoop), "the running loop is layerloop's")
    for step in (_timers, _tasks, _reader, _echo, _resolve, _threadsafe):
        try:
            await step(n)
        except Exception as exc:
            n.check(step.__name__.strip("_"), False, f"{type(exc).__name__}: {exc}")


def demo(backend: BackendSpec = "auto", out: TextIO | None = None) -> int:
    """Run the demo on a new layerloop loop; return the exit status (0: all checks ok)."""
    stream = sys.stdout if out is None else out
    loop = new_event_loop(backend)  # a bad backend name fails here, before anything runs
    print(
        f"layerloop demo: Python {platform.python_version()} on {sys.platform}, "
        f"backend {backend!r}",
        file=stream,
    )
    narrator = _Narrator(stream)
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(_main(narrator))
    passed = sum(ok for _, ok in narrator.checks)
    total = len(narrator.checks)
    failed = [name for name, ok in narrator.checks if not ok]
    elapsed = (time.perf_counter() - narrator.started) * 1e3
    print(
        f"summary: {passed}/{total} checks passed in {elapsed:.1f} ms on layerloop "
        f"(backend {loop.backend.name})" + (f"; FAILED: {', '.join(failed)}" if failed else ""),
        file=stream,
    )
    return 0 if not failed else 1
