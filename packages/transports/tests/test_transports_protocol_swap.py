"""``set_protocol`` while a read is in flight: the bytes reach the new protocol intact.

On a completion backend the next receive is already in the kernel, into the buffer the
transport lent for the *old* protocol (its own buffer for a ``BufferedProtocol``, the
transport's reused one for a ``Protocol``), when the application swaps protocols; the
read then completes into that buffer.  Where the bytes landed is decided by what was
lent, how they are delivered by the protocol in place now.  On a readiness backend (and
on asyncio) the buffer is asked for only once data is there, so the same scenario checks
the plain case.  Every swap direction, on every loop.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from transports_helpers import Recorder, errors_to

FIRST = b"to the first protocol"
SECOND = b"to the second protocol, after the swap"


class BufferedCollector(asyncio.BufferedProtocol):
    """Collects what ``buffer_updated`` reports from its own small buffer, which is
    filled with a marker before each lend so that a report without a copy shows."""

    def __init__(self, size: int = 8) -> None:
        self.buffer = bytearray(size)
        self.data = bytearray()
        self.lost: list[BaseException | None] = []
        self._waiting_for = 0
        self._enough: asyncio.Future[None] | None = None

    def connection_made(self, transport: Any) -> None:
        pass

    def get_buffer(self, sizehint: int) -> bytearray:
        self.buffer[:] = b"?" * len(self.buffer)
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data += self.buffer[:nbytes]
        enough = self._enough
        if enough is not None and len(self.data) >= self._waiting_for and not enough.done():
            enough.set_result(None)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.append(exc)

    async def wait_for_bytes(self, count: int) -> None:
        if len(self.data) >= count:
            return
        self._waiting_for = count
        self._enough = asyncio.get_running_loop().create_future()
        await self._enough


def _make(kind: str) -> Any:
    return Recorder() if kind == "plain" else BufferedCollector()


@pytest.mark.parametrize(
    ("before", "after"),
    [("plain", "buffered"), ("buffered", "plain"), ("buffered", "buffered"), ("plain", "plain")],
)
def test_set_protocol_with_a_read_in_flight(
    loop: asyncio.AbstractEventLoop, before: str, after: str
) -> None:
    async def main() -> None:
        errors = errors_to(loop)
        ours, peer = socket.socketpair()
        peer.settimeout(5)
        first: Any = _make(before)
        transport, _ = await loop.create_connection(lambda: first, sock=ours)
        try:
            peer.sendall(FIRST)
            await asyncio.wait_for(first.wait_for_bytes(len(FIRST)), 5)
            # The transport keeps reading: on a completion backend the next receive
            # is in flight now, into the buffer lent for `first`.
            await asyncio.sleep(0.05)
            second: Any = _make(after)
            lost_by_second: list[BaseException | None] = second.lost
            transport.set_protocol(second)
            peer.sendall(SECOND)
            await asyncio.wait_for(second.wait_for_bytes(len(SECOND)), 5)
            await asyncio.sleep(0.05)  # nothing more may arrive
            assert bytes(first.data) == FIRST
            assert bytes(second.data) == SECOND
            assert errors == []
            assert not transport.is_closing()
            assert transport.get_protocol() is second
        finally:
            transport.close()
            peer.close()
        await asyncio.sleep(0.01)
        assert lost_by_second == [None]
        assert first.lost == []
        assert transport.get_protocol() is None  # as in CPython, once the connection is lost

    loop.run_until_complete(main())
