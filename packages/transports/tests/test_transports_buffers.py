"""Where the transports' read buffers live (see ``_buffers.py``)."""

from __future__ import annotations

import asyncio
import ctypes
import mmap

import pytest

from layerloop_transports import _buffers, _stream
from transports_helpers import Recorder, is_ours


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
        transport.write(b"x" * 100_000)
        await client.wait_for_bytes(100_000)
        transport.close()
        await client.closed
        server.close()
        await server.wait_closed()
        return bytes(client.data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_stream.StreamTransport, "get_read_buffer", spy)
        assert loop.run_until_complete(main()) == b"x" * 100_000
    assert lent
    assert set(lent) == {_buffers.PAGE_OFFSET % mmap.PAGESIZE}
