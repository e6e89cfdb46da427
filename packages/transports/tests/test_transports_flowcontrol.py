"""Write-buffer flow control as the stream, datagram and write-pipe transports share it
(``_flowcontrol.py``): the same scenario on each kind of transport, on every backend and
on asyncio's loop (the oracle).

* A protocol whose ``pause_writing``/``resume_writing`` raise: each failure reaches the
  exception handler once, with CPython's message and context keys, and the transport
  carries on (it is not called again for the same crossing, and it still delivers).
* Writes after the connection is lost are dropped, and logged from the count CPython
  logs them (stream and datagram transports count the loss itself, pipes do not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

KINDS = ["stream", "datagram", "pipe"]
CHUNK = 500


class FlowProtocol(asyncio.Protocol, asyncio.DatagramProtocol):
    """Serves every kind of transport; records flow-control calls and can raise from
    them."""

    def __init__(self, *, raising: bool) -> None:
        self.raising = raising
        self.calls: list[str] = []
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    def pause_writing(self) -> None:
        self.calls.append("pause")
        if self.raising:
            raise ZeroDivisionError("pause failed")

    def resume_writing(self) -> None:
        self.calls.append("resume")
        if self.raising:
            raise ZeroDivisionError("resume failed")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.set_result(exc)


class Opened:
    """One transport of *kind* whose peer reads only when told to (:meth:`drain`)."""

    def __init__(self, kind: str, transport: Any, protocol: FlowProtocol, peer: Any) -> None:
        self.kind = kind
        self.transport = transport
        self.protocol = protocol
        self.peer = peer  # a socket, or the read fd of the pipe
        self.received = 0

    def send(self, data: bytes) -> None:
        if self.kind == "datagram":
            self.transport.sendto(data)
        else:
            self.transport.write(data)

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                if self.kind == "pipe":
                    got = len(os.read(self.peer, 1 << 20))
                else:
                    got = len(self.peer.recv(1 << 20))
                if not got:
                    return
                self.received += got

    def close_peer(self) -> None:
        if self.kind == "pipe":
            os.close(self.peer)
        else:
            self.peer.close()


async def _open(
    loop: asyncio.AbstractEventLoop, kind: str, directory: str, *, raising: bool
) -> Opened:
    factory: Callable[[], FlowProtocol] = lambda: FlowProtocol(raising=raising)  # noqa: E731
    transport: Any
    if kind == "pipe":
        rfd, wfd = os.pipe()
        os.set_blocking(rfd, False)
        # The transport owns the file object from here on and closes it.
        pipe = open(wfd, "wb", buffering=0)  # noqa: SIM115
        transport, protocol = await loop.connect_write_pipe(factory, pipe)
        return Opened(kind, transport, protocol, rfd)
    if kind == "stream":
        mine, peer = socket.socketpair()
        peer.setblocking(False)
        transport, protocol = await loop.connect_accepted_socket(factory, mine)
        return Opened(kind, transport, protocol, peer)
    # A named peer given as remote_addr: CPython's datagram transport then has a
    # remote address (it counts writes after the loss only then) and a peer name (it
    # uses send() only then).  Its small receive queue makes sendto block (EAGAIN).
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    peer.bind(os.path.join(directory, "peer.sock"))
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peer.setblocking(False)
    transport, protocol = await loop.create_datagram_endpoint(
        factory, family=socket.AF_UNIX, remote_addr=peer.getsockname()
    )
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return Opened(kind, transport, protocol, peer)


@pytest.fixture
def directory() -> Iterator[str]:
    """A short-named directory (AF_UNIX socket paths are limited to 107 bytes)."""
    with tempfile.TemporaryDirectory() as path:
        yield path


def _run(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, 30))


@pytest.mark.parametrize("kind", KINDS)
def test_raising_pause_and_resume_writing_reach_the_handler(
    loop: asyncio.AbstractEventLoop, kind: str, directory: str
) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))

    async def main() -> None:
        opened = await _open(loop, kind, directory, raising=True)
        transport, protocol = opened.transport, opened.protocol
        transport.set_write_buffer_limits(high=4000, low=1000)
        sent = 0
        while transport.get_write_buffer_size() <= 4000:
            assert sent < 10_000, "the kernel never pushed back"
            opened.send(bytes([sent % 256]) * CHUNK)
            sent += 1
        assert protocol.calls == ["pause"]
        # Still above the high-water mark: pause_writing is not called again.
        opened.send(b"x" * CHUNK)
        sent += 1
        assert protocol.calls == ["pause"]
        assert [sorted(context) for context in contexts] == [
            ["exception", "message", "protocol", "transport"]
        ]
        assert contexts[0]["message"] == "protocol.pause_writing() failed"
        assert str(contexts[0]["exception"]) == "pause failed"
        assert contexts[0]["transport"] is transport
        assert contexts[0]["protocol"] is protocol
        while protocol.calls == ["pause"]:
            await asyncio.sleep(0.002)
            opened.drain()
        assert protocol.calls == ["pause", "resume"]
        assert len(contexts) == 2
        assert contexts[1]["message"] == "protocol.resume_writing() failed"
        assert str(contexts[1]["exception"]) == "resume failed"
        assert contexts[1]["transport"] is transport
        assert contexts[1]["protocol"] is protocol
        # The failures did not lose the connection: everything queued is delivered.
        assert not transport.is_closing()
        transport.close()
        while not protocol.lost.done():
            await asyncio.sleep(0.002)
            opened.drain()
        opened.drain()
        assert opened.received == sent * CHUNK
        assert protocol.lost.result() is None
        assert len(contexts) == 2
        opened.close_peer()

    _run(loop, main())


#: Warnings logged after each of seven writes following ``abort()``: the stream and
#: datagram transports count the abort itself as the first lost write, pipes do not.
WARNINGS_AFTER_ABORT = {
    "stream": ("socket.send() raised exception.", [0, 0, 0, 0, 1, 2, 3]),
    "datagram": ("socket.send() raised exception.", [0, 0, 0, 0, 1, 2, 3]),
    "pipe": (
        "pipe closed by peer or os.write(pipe, data) raised exception.",
        [0, 0, 0, 0, 0, 1, 2],
    ),
}


@pytest.mark.parametrize("kind", KINDS)
def test_writes_after_abort_are_dropped_and_logged(
    loop: asyncio.AbstractEventLoop, kind: str, directory: str, caplog: pytest.LogCaptureFixture
) -> None:
    message, expected = WARNINGS_AFTER_ABORT[kind]

    async def main() -> list[int]:
        opened = await _open(loop, kind, directory, raising=False)
        opened.transport.abort()
        assert await opened.protocol.lost is None
        counts: list[int] = []
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            for _ in expected:
                opened.send(b"dropped")
                counts.append(sum(record.getMessage() == message for record in caplog.records))
        assert opened.transport.get_write_buffer_size() == 0
        opened.drain()
        assert opened.received == 0
        opened.close_peer()
        return counts

    assert _run(loop, main()) == expected
