"""When ``connection_lost`` runs after ``close()``/``abort()``, relative to the callbacks
queued around it, on every backend and on asyncio.

asyncio's socket transport schedules ``connection_lost`` with ``call_soon`` from inside
``close()`` (nothing queued to write) and ``abort()``: it runs in the next iteration, before
any callback scheduled after the call.  Code relies on that position: CPython's
``test_server`` gives ``Server.wait_closed()`` exactly two ``sleep(0)`` after
``close_clients()``/``abort_clients()``.  A completion backend has requests in flight at
that moment (a poll or a receive for the reader, a send for a full socket buffer), whose
cancellation the kernel reports only at the next poll; these tests pin the position for
each of them.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

PAYLOAD = b"p" * (4 * 1024 * 1024)  # far more than a socketpair's kernel buffers


class Lender(asyncio.BufferedProtocol):
    """Reads into its own ``bytearray``; records the order of events."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.storage = bytearray(64)
        self.received = 0
        self.transport: Any = None
        self.got_data = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.storage)

    def buffer_updated(self, nbytes: int) -> None:
        self.received += nbytes
        if not self.got_data.done():
            self.got_data.set_result(None)

    def eof_received(self) -> bool:
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost" if exc is None else f"lost {type(exc).__name__}")


async def _connected(
    loop: asyncio.AbstractEventLoop, events: list[str]
) -> tuple[Any, Lender, socket.socket]:
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    transport, protocol = await loop.create_connection(lambda: Lender(events), sock=ours)
    return transport, protocol, peer


async def _settle() -> None:
    # A few iterations: whatever the loop had to submit after the last event is in the
    # kernel now (a receive or a poll for the reader, a send for a queued write).
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("how", "inflight"),
    [
        ("close", "idle"),
        ("abort", "idle"),
        ("close", "after-data"),
        ("abort", "after-data"),
        # close() with queued data waits for the flush: the next test.
        ("abort", "queued-write"),
    ],
)
def test_connection_lost_before_callbacks_scheduled_after_the_call(
    loop: asyncio.AbstractEventLoop, how: str, inflight: str
) -> None:
    """``connection_lost`` runs before a callback ``call_soon``-ed right after
    ``close()``/``abort()``, and in the next iteration: an idle reader (a poll in
    flight on io_uring), a reader that already received (a receive in flight, into the
    protocol's buffer), and a write the peer does not take (a send in flight; ``abort``
    discards it)."""

    async def main() -> None:
        events: list[str] = []
        transport, protocol, peer = await _connected(loop, events)
        try:
            if inflight == "after-data":
                peer.send(b"x")
                await protocol.got_data
            elif inflight == "queued-write":
                transport.write(PAYLOAD)
                assert transport.get_write_buffer_size() > 0
            await _settle()
            iteration = [0]

            def count() -> None:
                iteration[0] += 1
                if "lost" not in events:
                    loop.call_soon(count)

            loop.call_soon(count)
            await asyncio.sleep(0)
            start = iteration[0]
            getattr(transport, how)()
            loop.call_soon(events.append, "after")
            while len(events) < 2:
                await asyncio.sleep(0)
            assert events == ["lost", "after"]
            assert iteration[0] - start == 1
            # connection_lost came after the backend gave the protocol's buffer back:
            # resizing a bytearray fails while a buffer export (a read's pin) exists.
            protocol.storage.extend(b"!")
            assert protocol.transport.is_closing()
        finally:
            peer.close()

    loop.run_until_complete(main())


def test_close_flushes_queued_data_before_connection_lost(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """``close()`` with a send in flight and more queued: every byte reaches the peer,
    then end of stream, and ``connection_lost(None)`` runs once, after the last byte left
    the transport."""

    async def main() -> None:
        events: list[str] = []
        transport, protocol, peer = await _connected(loop, events)
        try:
            peer.send(b"x")  # a receive in flight as well, on io_uring
            await protocol.got_data
            transport.write(PAYLOAD)
            transport.write(PAYLOAD[:1000])
            await _settle()
            assert transport.get_write_buffer_size() > 0
            transport.close()
            assert transport.is_closing()
            await asyncio.sleep(0)
            assert events == []  # the flush is not done: the peer has not read yet
            received = 0
            while chunk := await loop.sock_recv(peer, 1 << 20):
                received += len(chunk)
                if received < len(PAYLOAD):
                    assert events == []
            assert received == len(PAYLOAD) + 1000
            while not events:
                await asyncio.sleep(0)
            assert events == ["lost"]
            assert transport.get_write_buffer_size() == 0
            protocol.storage.extend(b"!")  # no read pin left on the protocol's buffer
        finally:
            peer.close()

    loop.run_until_complete(main())


class DatagramEvents(asyncio.DatagramProtocol):
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost" if exc is None else f"lost {type(exc).__name__}")


@pytest.mark.parametrize("how", ["close", "abort"])
def test_datagram_connection_lost_before_callbacks_scheduled_after_the_call(
    loop: asyncio.AbstractEventLoop, how: str
) -> None:
    """The same position for a datagram endpoint that is receiving (a poll in flight on
    io_uring)."""

    async def main() -> None:
        events: list[str] = []
        transport, _ = await loop.create_datagram_endpoint(
            lambda: DatagramEvents(events), local_addr=("127.0.0.1", 0)
        )
        await _settle()
        getattr(transport, how)()
        loop.call_soon(events.append, "after")
        for _ in range(3):
            await asyncio.sleep(0)
        assert events == ["lost", "after"]

    loop.run_until_complete(main())
