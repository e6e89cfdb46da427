"""Where the transports' read buffers live (see ``_buffers.py``)."""

from __future__ import annotations

import asyncio
import ctypes
import mmap
import os
import sys
from collections.abc import Callable

import pytest

from layerloop_core.abc import BYTES_READ_SIZE
from layerloop_transports import _buffers, _stream
from transports_helpers import (
    BufferedEcho,
    Recorder,
    growth_with_idle_connections,
    is_ours,
    reads_bytes_by_completion,
    small_round_trips_then_close,
)


def _page_offset(view: memoryview) -> int:
    address = ctypes.addressof(ctypes.c_char.from_buffer(view))
    return address % mmap.PAGESIZE


@pytest.mark.parametrize("size", [1, 16 * 1024, 256 * 1024])
def test_new_read_buffer_is_zeroed_writable_and_half_a_page_in(size: int) -> None:
    view = _buffers.new_read_buffer(size)
    assert view.nbytes == size
    assert not view.readonly
    assert view.c_contiguous and view.itemsize == 1
    assert bytes(view) == bytes(size)
    view[-1] = 7
    assert view[-1] == 7
    assert _page_offset(view) == _buffers.PAGE_OFFSET % mmap.PAGESIZE
    # Far from where a large malloc block's data (16 + 32 bytes in) starts.
    assert min(_page_offset(view), mmap.PAGESIZE - _page_offset(view)) >= 1024


def test_protocol_reads_land_in_buffers_half_a_page_in(loop: asyncio.AbstractEventLoop) -> None:
    """Every buffer a ``Protocol``'s reads are lent starts half a page in (a readiness
    backend lends one only during a bulk transfer, see the next test)."""
    if not is_ours(loop):
        pytest.skip("layerloop's transport read buffers")
    lent: list[int] = []
    get_read_buffer = _stream.StreamTransport.get_read_buffer

    def spy(self: _stream.StreamTransport, size_hint: int) -> memoryview:
        view = get_read_buffer(self, size_hint)
        lent.append(_page_offset(view))
        return view

    async def main() -> bytes:
        server = await loop.create_server(lambda: Recorder(echo=True), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, client = await loop.create_connection(Recorder, "127.0.0.1", port)
        transport.write(b"x" * 1_000_000)
        await client.wait_for_bytes(1_000_000)
        transport.close()
        await client.closed
        server.close()
        await server.wait_closed()
        return bytes(client.data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_stream.StreamTransport, "get_read_buffer", spy)
        assert loop.run_until_complete(main()) == b"x" * 1_000_000
    assert lent
    assert set(lent) == {_buffers.PAGE_OFFSET % mmap.PAGESIZE}


def count_reads(
    patch: pytest.MonkeyPatch,
    calls: dict[str, int],
    full_read: int = -1,
    *,
    buffered_only: bool = False,
) -> None:
    """Count in *calls* the buffers transports lend ("lent"), the bytes reads they are
    given ("bytes"), and those of exactly *full_read* bytes ("full"); with
    *buffered_only*, only for transports whose protocol is a ``BufferedProtocol``."""
    get_read_buffer = _stream.StreamTransport.get_read_buffer
    read_bytes = _stream.StreamTransport.read_bytes

    def counts(transport: _stream.StreamTransport) -> bool:
        return not buffered_only or transport._buffered

    def spy_lend(self: _stream.StreamTransport, size_hint: int) -> memoryview:
        calls["lent"] += counts(self)
        return get_read_buffer(self, size_hint)

    def spy_bytes(self: _stream.StreamTransport, data: bytes) -> None:
        if counts(self):
            calls["bytes"] += 1
            calls["full"] += len(data) == full_read
        read_bytes(self, data)

    patch.setattr(_stream.StreamTransport, "get_read_buffer", spy_lend)
    patch.setattr(_stream.StreamTransport, "read_bytes", spy_bytes)


async def small_bulk_small(
    loop: asyncio.AbstractEventLoop,
    server_protocol: Callable[[], asyncio.BaseProtocol],
    bulk: int,
    calls: dict[str, int],
) -> list[dict[str, int]]:
    """Against an echo server of *server_protocol*: 20 round trips of 100 bytes, one of
    *bulk* bytes, 20 of 100 bytes again; *calls* as it stood after each phase."""
    server = await loop.create_server(server_protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, client = await loop.create_connection(Recorder, "127.0.0.1", port)

    async def round_trip(payload: bytes) -> None:
        expected = len(client.data) + len(payload)
        transport.write(payload)
        await client.wait_for_bytes(expected)

    seen = []
    for phase_bulk in (0, bulk, 0):
        if phase_bulk:
            await round_trip(b"b" * phase_bulk)
        else:
            for _ in range(20):
                await round_trip(b"s" * 100)
        seen.append(dict(calls))
    transport.close()
    await client.closed
    server.close()
    await server.wait_closed()
    return seen


def test_small_reads_take_bytes_and_bulk_reads_a_large_buffer(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """On a backend that reads bytes (the readiness backends; io_uring's multishot
    receives) a ``Protocol``'s small reads arrive as new bytes objects (no buffer
    lent); a read that fills all such a read may bring (64 KiB on a readiness backend,
    one 16 KiB provided buffer on io_uring) switches to lending the transport's large
    buffer, and a read of less than 16 KiB switches back."""
    backend = getattr(loop, "backend", None)
    if not getattr(backend, "reads_bytes", False):
        pytest.skip("asyncio reads every time into a buffer")
    full_read = getattr(backend, "bytes_read_size", BYTES_READ_SIZE)
    calls = {"lent": 0, "bytes": 0, "full": 0}
    with pytest.MonkeyPatch.context() as patch:
        count_reads(patch, calls, full_read)
        phases = small_bulk_small(loop, lambda: Recorder(echo=True), 4_000_000, calls)
        small, bulk, small_again = loop.run_until_complete(phases)
    # 20 small round trips: 40 reads (server and client), every one into bytes.
    assert small["lent"] == 0 and small["bytes"] >= 40
    # The bulk transfer: full reads switched to the large buffer.
    assert bulk["full"] >= 1 and bulk["lent"] > 0
    # Small again: at most one buffer read per transport before bytes take over.
    assert small_again["lent"] - bulk["lent"] <= 2
    assert small_again["bytes"] - bulk["bytes"] >= 38


def test_new_read_buffers_share_a_mapping_and_do_not_overlap() -> None:
    size = 4 * mmap.PAGESIZE
    views = _buffers.new_read_buffers(size, 5)
    assert len(views) == 5
    for index, view in enumerate(views):
        assert view.nbytes == size
        assert _page_offset(view) == _buffers.PAGE_OFFSET % mmap.PAGESIZE
        view[:] = bytes([index + 1]) * size
    assert [set(bytes(view)) for view in views] == [{1}, {2}, {3}, {4}, {5}]
    assert len({view.obj for view in views}) == 1  # one mapping
    with pytest.raises(ValueError, match="not a multiple of the page size"):
        _buffers.new_read_buffers(mmap.PAGESIZE + 1, 2)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_share_the_buffers() -> None:
    """The free lists survive ``fork``: a child that reads into a buffer must not write
    into its parent's copy (shared anonymous memory would)."""
    single = _buffers.new_read_buffer(4096)
    (cut,) = _buffers.new_read_buffers(mmap.PAGESIZE, 1)
    pid = os.fork()
    if pid == 0:  # the child: scribble and leave at once
        single[:] = b"c" * 4096
        cut[:] = b"c" * mmap.PAGESIZE
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert bytes(single) == bytes(4096)
    assert bytes(cut) == bytes(mmap.PAGESIZE)


def _mappings() -> int:
    with open("/proc/self/maps") as maps:
        return sum(1 for _ in maps)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="counts mappings in Linux's /proc/self/maps"
)
def test_idle_connections_do_not_take_a_mapping_each(loop: asyncio.AbstractEventLoop) -> None:
    """A process may hold only ``vm.max_map_count`` mappings (65530 by default): the
    buffers lent to idle connections' receives on a completion backend come many to a
    mapping."""
    connections = 100  # 200 transports, each with a read in flight on io_uring
    added = loop.run_until_complete(growth_with_idle_connections(loop, connections, _mappings))
    assert added < 40, f"{added} new mappings for {2 * connections} idle transports"


def test_buffered_protocol_small_reads_by_backend_kind(loop: asyncio.AbstractEventLoop) -> None:
    """A ``BufferedProtocol``'s small reads: on a completion backend that reads bytes
    (io_uring's multishot receives) they come as bytes and are copied into the
    protocol's buffer, no buffer lent per read; on a readiness backend the kernel
    reads straight into the protocol's buffer, lent each time."""
    if not is_ours(loop):
        pytest.skip("layerloop's transports")
    completion_bytes = reads_bytes_by_completion(loop)
    calls = {"lent": 0, "bytes": 0, "full": 0}

    async def main() -> list[int]:
        protocols: list[BufferedEcho] = []

        def factory() -> BufferedEcho:
            protocols.append(BufferedEcho(1000))
            return protocols[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, client = await loop.create_connection(Recorder, "127.0.0.1", port)
        await small_round_trips_then_close(transport, client, server)
        (echo,) = protocols
        return echo.sizes

    with pytest.MonkeyPatch.context() as patch:
        count_reads(patch, calls)
        sizes = loop.run_until_complete(main())
    assert sum(sizes) == 2000 and max(sizes) <= 1000
    if completion_bytes:
        assert calls["lent"] == 0  # neither side lent a buffer
        assert calls["bytes"] >= 40
    else:
        assert calls["lent"] >= 20  # the server lent the protocol's buffer per read


def test_buffered_protocol_small_reads_come_as_bytes_again_after_bulk(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """On a completion backend that reads bytes, a ``BufferedProtocol``'s bulk reads go
    straight into its buffer; once a read brings less than 16 KiB the small reads come
    through the multishot receive again (bytes copied in), not one lent read each."""
    if not reads_bytes_by_completion(loop):
        pytest.skip("only a completion backend that reads bytes (io_uring) switches here")
    served = {"lent": 0, "bytes": 0, "full": 0}  # the BufferedProtocol's side only
    with pytest.MonkeyPatch.context() as patch:
        count_reads(patch, served, buffered_only=True)
        phases = small_bulk_small(loop, lambda: BufferedEcho(64 * 1024), 2_000_000, served)
        before, bulk, after = loop.run_until_complete(phases)
    assert before["lent"] == 0 and before["bytes"] >= 20
    assert bulk["lent"] > 0  # the bulk went into the protocol's buffer
    # The first small read after the bulk may still be a lent one: it switches back.
    assert after["lent"] - bulk["lent"] <= 2, (bulk, after)
    assert after["bytes"] - bulk["bytes"] >= 18, (bulk, after)
