"""Protocols and helpers shared by the transports tests."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import Any

import layerloop_core
import layerloop_testing
from layerloop_transports import TransportsMixin

#: Every backend installed here, by name, in registration order: the ``layerloop.backends``
#: entry points (the selector backends, ``uring`` from layerloop-proactor), found by
#: layerloop-testing.  A backend that should work here but cannot be created (io_uring
#: denied by the kernel or a seccomp filter) is kept with the reason
#: (``BackendInfo.unavailable``), so the tests show it as skipped rather than dropping it.
BACKENDS: dict[str, layerloop_testing.BackendInfo] = {
    info.name: info for info in layerloop_testing.discover_backends()
}


class TransportsLoop(TransportsMixin, layerloop_core.EventLoop):
    """layerloop's scheduler with the transports layer mixed in (what the meta-package
    will assemble)."""


def new_loop(backend: str) -> TransportsLoop:
    """A :class:`TransportsLoop` on a new instance of the installed backend *backend*."""
    return TransportsLoop(BACKENDS[backend].new_backend())


def is_ours(loop: asyncio.AbstractEventLoop) -> bool:
    return isinstance(loop, TransportsLoop)


class Recorder(asyncio.Protocol):
    """Records every protocol event; optionally echoes what it receives."""

    def __init__(self, *, echo: bool = False, keep_open_on_eof: bool = False) -> None:
        self.echo = echo
        self.keep_open_on_eof = keep_open_on_eof
        self.transport: Any = None
        self.data = bytearray()
        self.events: list[str] = []
        self.lost: list[BaseException | None] = []
        self.made = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.got_eof = asyncio.get_running_loop().create_future()
        self.waiting_for = 0
        self.enough: asyncio.Future[None] | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")
        self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        assert type(data) is bytes
        self.data += data
        if self.echo:
            self.transport.write(data)
        enough = self.enough
        if enough is not None and len(self.data) >= self.waiting_for and not enough.done():
            enough.set_result(None)

    def eof_received(self) -> bool:
        self.events.append("eof")
        self.got_eof.set_result(None)
        return self.keep_open_on_eof

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.lost.append(exc)
        if not self.closed.done():
            self.closed.set_result(None)

    async def wait_for_bytes(self, count: int) -> None:
        if len(self.data) >= count:
            return
        self.waiting_for = count
        self.enough = asyncio.get_running_loop().create_future()
        await self.enough


class BufferedEcho(asyncio.BufferedProtocol):
    """Echoes through its own small buffer (reads land in it, ``buffer_updated``)."""

    def __init__(self, size: int = 4096) -> None:
        self.buffer = bytearray(size)
        self.transport: Any = None
        self.sizes: list[int] = []
        self.hints: list[int] = []
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> bytearray:
        self.hints.append(sizehint)
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.sizes.append(nbytes)
        self.transport.write(bytes(self.buffer[:nbytes]))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed.set_result(exc)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def errors_to(loop: asyncio.AbstractEventLoop) -> list[dict[str, Any]]:
    """Collect what reaches *loop*'s exception handler."""
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    return seen


async def growth_with_idle_connections(
    loop: asyncio.AbstractEventLoop, count: int, measure: Callable[[], int]
) -> int:
    """How much *measure* grows while *count* connections to an echo server (both ends
    transports) have made one round trip each and wait for more; all are closed again
    before this returns."""
    server = await loop.create_server(lambda: Recorder(echo=True), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    opened: list[tuple[Any, Recorder]] = []
    before = measure()
    try:
        for _ in range(count):
            # Connected here, not by host name: a name lookup may start resolver
            # threads, whose 8 MiB stacks would count as growth.
            sock = socket.socket()
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, ("127.0.0.1", port))
            except BaseException:
                sock.close()
                raise
            transport, client = await loop.create_connection(Recorder, sock=sock)
            opened.append((transport, client))
            transport.write(b"ping")
            await client.wait_for_bytes(4)
        return measure() - before
    finally:
        for transport, client in opened:
            transport.close()
            await client.closed
        server.close()
        await server.wait_closed()


async def small_round_trips_then_close(transport: Any, client: Recorder, server: Any) -> None:
    """20 round trips of 100 bytes through an echo *server*, checked, then everything
    closed: the client's *transport* (its protocol *client*) and the server."""
    for index in range(20):
        expected = len(client.data) + 100
        transport.write(bytes([index]) * 100)
        await client.wait_for_bytes(expected)
    assert bytes(client.data) == b"".join(bytes([i]) * 100 for i in range(20))
    transport.close()
    await client.closed
    server.close()
    await server.wait_closed()


def reads_bytes_by_completion(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether *loop*'s backend is a completion backend that reads bytes (io_uring's
    multishot receives), where small reads reach a ``BufferedProtocol`` as bytes."""
    backend: Any = getattr(loop, "backend", None)
    return bool(getattr(backend, "reads_bytes", False)) and backend.kind == "completion"
