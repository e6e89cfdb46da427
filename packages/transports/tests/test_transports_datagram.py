"""create_datagram_endpoint and the datagram transport: every scenario on layerloop
(each backend) and on asyncio, the oracle."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from transports_helpers import is_ours, open_fds

PY312 = sys.version_info >= (3, 12)
#: The datagram changes of CPython 3.13 (empty datagrams sent, 8 bytes counted per
#: queued datagram, any non-stream socket accepted); 3.12.1 still behaves as 3.11.
PY313 = sys.version_info >= (3, 13)


class Datagrams(asyncio.DatagramProtocol):
    """Records every datagram protocol event; optionally echoes."""

    def __init__(self, *, echo: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.echo = echo
        self.transport: Any = None
        self.received: list[tuple[bytes, Any]] = []
        self.errors: list[Exception] = []
        self.events: list[str] = []
        self.lost: list[BaseException | None] = []
        self.closed = loop.create_future()
        self.arrived = asyncio.Event()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def datagram_received(self, data: bytes, addr: Any) -> None:
        assert type(data) is bytes
        self.received.append((data, addr))
        self.arrived.set()
        if self.echo:
            self.transport.sendto(data.upper(), addr)

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)
        self.arrived.set()

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.lost.append(exc)
        self.closed.set_result(None)

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async def enough() -> None:
            while len(self.received) + len(self.errors) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)


@pytest.fixture
def tmp_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as path:
        yield path


def test_udp_echo_connected_and_unconnected(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server_t, server = await loop.create_datagram_endpoint(
            lambda: Datagrams(echo=True), local_addr=("127.0.0.1", 0)
        )
        address = server_t.get_extra_info("sockname")
        if is_ours(loop) or PY312:  # asyncio's became a DatagramTransport subclass in 3.12
            assert isinstance(server_t, asyncio.DatagramTransport)
        # CPython's datagram transports are stream Transports too (and its tests check
        # it); the stream-only methods are the base classes' NotImplementedError.
        assert isinstance(server_t, asyncio.Transport)
        with pytest.raises(NotImplementedError):
            server_t.write(b"x")
        assert server_t.get_extra_info("peername") is None
        assert server_t.get_extra_info("socket").family == socket.AF_INET
        client_t, client = await loop.create_datagram_endpoint(Datagrams, remote_addr=address)
        assert client.events == ["made"]
        assert client_t.get_extra_info("peername") == address
        client_t.sendto(b"one")
        client_t.sendto(bytearray(b"two"), address)  # the connected address is allowed
        client_t.sendto(memoryview(b"three"))
        await client.wait_for(3)
        assert [data for data, _ in client.received] == [b"ONE", b"TWO", b"THREE"]
        assert {addr for _, addr in client.received} == {address}
        # An unconnected endpoint names the destination of each datagram.
        free_t, free = await loop.create_datagram_endpoint(Datagrams, family=socket.AF_INET)
        free_t.sendto(b"free", address)
        await free.wait_for(1)
        assert free.received == [(b"FREE", address)]
        for transport, proto in ((client_t, client), (free_t, free), (server_t, server)):
            transport.close()
            await proto.closed
            assert proto.lost == [None]
            assert transport.is_closing()
        assert server.errors == []

    loop.run_until_complete(main())


def test_empty_datagrams(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[tuple[bytes, Any]]:
        server_t, server = await loop.create_datagram_endpoint(
            Datagrams, local_addr=("127.0.0.1", 0)
        )
        client_t, _ = await loop.create_datagram_endpoint(
            Datagrams, remote_addr=server_t.get_extra_info("sockname")
        )
        client_t.sendto(b"")
        client_t.sendto(b"after")
        await server.wait_for(1)
        await asyncio.sleep(0.05)
        client_t.close()
        server_t.close()
        return server.received

    received = loop.run_until_complete(main())
    # Python 3.13 sends an empty datagram; 3.11 and 3.12.1 drop it in sendto.
    expected = [b"", b"after"] if PY313 else [b"after"]
    assert [data for data, _ in received] == expected


def test_connected_endpoint_refuses_other_addresses(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server_t, _ = await loop.create_datagram_endpoint(Datagrams, local_addr=("127.0.0.1", 0))
        address = server_t.get_extra_info("sockname")
        client_t, _ = await loop.create_datagram_endpoint(Datagrams, remote_addr=address)
        with pytest.raises(ValueError, match=r"^Invalid address: must be None or "):
            client_t.sendto(b"x", ("127.0.0.1", 9))
        with pytest.raises(ValueError) as caught:
            client_t.sendto(b"x", ("127.0.0.1", address[1] + 1))
        assert str(caught.value) == f"Invalid address: must be None or {address}"
        with pytest.raises(TypeError) as type_error:
            client_t.sendto("text")  # type: ignore[arg-type]
        assert str(type_error.value) == "data argument must be a bytes-like object, not 'str'"
        client_t.close()
        server_t.close()

    loop.run_until_complete(main())


def test_icmp_error_reaches_error_received(loop: asyncio.AbstractEventLoop) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()

    async def main() -> None:
        transport, proto = await loop.create_datagram_endpoint(Datagrams, remote_addr=closed_port)
        transport.sendto(b"anyone?")
        await proto.wait_for(1)
        for _ in range(3):
            transport.sendto(b"again?")  # the error is reported, the endpoint carries on
            await asyncio.sleep(0.02)
        assert proto.errors, "no error_received"
        assert all(isinstance(exc, ConnectionRefusedError) for exc in proto.errors)
        assert not transport.is_closing()
        assert proto.lost == []
        transport.close()
        await proto.closed

    loop.run_until_complete(main())


def _unix_pair(directory: str) -> tuple[socket.socket, socket.socket]:
    """Two bound AF_UNIX datagram sockets, the first connected to the second (named,
    so that CPython's transport sees a peer name: it uses send() only then)."""
    mine = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    mine.bind(os.path.join(directory, "mine.sock"))
    peer.bind(os.path.join(directory, "peer.sock"))
    mine.connect(peer.getsockname())
    # A small receive buffer fills up fast: then sendto would block (EAGAIN).
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    mine.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setblocking(False)
    return mine, peer


async def _endpoint(loop: asyncio.AbstractEventLoop, **kwargs: Any) -> tuple[Any, Datagrams]:
    """``create_datagram_endpoint(Datagrams, **kwargs)``; the transport typed ``Any``:
    its flow-control and pause methods are missing from typeshed's DatagramTransport."""
    return await loop.create_datagram_endpoint(Datagrams, **kwargs)


def _drain(peer: socket.socket) -> list[bytes]:
    got: list[bytes] = []
    try:
        while True:
            got.append(peer.recv(65536))
    except BlockingIOError:
        pass
    return got


def test_flow_control_and_close_flushes(loop: asyncio.AbstractEventLoop, tmp_dir: str) -> None:
    mine, peer = _unix_pair(tmp_dir)

    async def main() -> None:
        transport, proto = await _endpoint(loop, sock=mine)
        transport.set_write_buffer_limits(high=4000, low=1000)
        assert transport.get_write_buffer_limits() == (1000, 4000)
        datagrams = [bytes([i]) * 500 for i in range(60)]
        for data in datagrams:
            transport.sendto(data)
        queued = transport.get_write_buffer_size()
        assert queued > 4000  # the kernel took only part of them
        assert proto.events == ["made", "pause"]
        if is_ours(loop) or not PY313:
            overhead = 8 if PY313 else 0
            # Counted per queued datagram: its length (+ CPython 3.13's 8 bytes).
            assert queued % (500 + overhead) == 0
        received: list[bytes] = []
        while len(received) < len(datagrams):
            await asyncio.sleep(0.005)
            received += _drain(peer)
        assert received == datagrams  # every one, in order
        assert proto.events[:3] == ["made", "pause", "resume"]
        if is_ours(loop) or not PY313:
            # (CPython 3.13 adds 8 bytes per queued datagram and takes back only the
            # length when sending it, so its count never returns to 0.)
            assert transport.get_write_buffer_size() == 0
        # close() with a full queue delivers everything first.
        for data in datagrams[:30]:
            transport.sendto(data)
        transport.close()
        assert transport.is_closing()
        late: list[bytes] = []
        while not proto.closed.done():
            await asyncio.sleep(0.005)
            late += _drain(peer)
        late += _drain(peer)
        assert late == datagrams[:30]
        assert proto.lost == [None]

    try:
        loop.run_until_complete(main())
    finally:
        peer.close()


def test_abort_drops_the_queue(loop: asyncio.AbstractEventLoop, tmp_dir: str) -> None:
    mine, peer = _unix_pair(tmp_dir)

    async def main() -> None:
        transport, proto = await _endpoint(loop, sock=mine)
        for i in range(60):
            transport.sendto(bytes([i]) * 500)
        assert transport.get_write_buffer_size() > 0
        sent_at_once = len(_drain(peer))
        transport.abort()
        await proto.closed
        assert proto.lost == [None]
        if is_ours(loop):
            # The queue is gone, so is its size (CPython's abort leaves the stale count).
            assert transport.get_write_buffer_size() == 0
        await asyncio.sleep(0.02)
        assert _drain(peer) == []  # nothing queued left afterwards
        assert 0 < sent_at_once < 60
        assert mine.fileno() == -1

    try:
        loop.run_until_complete(main())
    finally:
        peer.close()


def test_unix_datagram_paths(loop: asyncio.AbstractEventLoop, tmp_dir: str) -> None:
    server_path = os.path.join(tmp_dir, "server.sock")
    client_path = os.path.join(tmp_dir, "client.sock")
    # A stale socket file from an earlier run is removed before binding.
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stale:
        stale.bind(server_path)

    async def main() -> None:
        server_t, server = await loop.create_datagram_endpoint(
            lambda: Datagrams(echo=True), local_addr=server_path, family=socket.AF_UNIX
        )
        assert server_t.get_extra_info("sockname") == server_path
        client_t, client = await loop.create_datagram_endpoint(
            Datagrams,
            local_addr=client_path,
            remote_addr=server_path,
            family=socket.AF_UNIX,
        )
        assert client_t.get_extra_info("peername") == server_path
        client_t.sendto(b"over unix")
        await client.wait_for(1)
        assert client.received == [(b"OVER UNIX", server_path)]
        assert server.received == [(b"over unix", client_path)]
        for transport, proto in ((client_t, client), (server_t, server)):
            transport.close()
            await proto.closed

    loop.run_until_complete(main())


def test_unix_datagram_on_a_bytes_path_socket(
    loop: asyncio.AbstractEventLoop, tmp_dir: str
) -> None:
    path = os.fsencode(os.path.join(tmp_dir, "bytes.sock"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)

    async def main() -> None:
        transport, proto = await loop.create_datagram_endpoint(Datagrams, sock=listener)
        assert transport.get_extra_info("sockname") == path.decode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"to bytes", path)
            await proto.wait_for(1)
        assert proto.received[0][0] == b"to bytes"
        transport.close()
        await proto.closed

    loop.run_until_complete(main())


def test_reuse_port_and_allow_broadcast(loop: asyncio.AbstractEventLoop) -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT on this platform")

    async def main() -> None:
        first_t, _ = await loop.create_datagram_endpoint(
            Datagrams, local_addr=("127.0.0.1", 0), reuse_port=True
        )
        address = first_t.get_extra_info("sockname")
        second_t, _ = await loop.create_datagram_endpoint(
            Datagrams, local_addr=address, reuse_port=True
        )
        sock = second_t.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        # With allow_broadcast the remote address is not connected: sendto() is used.
        bcast_t, _ = await loop.create_datagram_endpoint(
            Datagrams, remote_addr=address, allow_broadcast=True
        )
        bsock = bcast_t.get_extra_info("socket")
        assert bsock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
        assert bcast_t.get_extra_info("peername") is None
        bcast_t.sendto(b"not connected")
        with pytest.raises(ValueError):
            bcast_t.sendto(b"elsewhere", ("127.0.0.1", 9))
        for transport in (first_t, second_t, bcast_t):
            transport.close()
        await asyncio.sleep(0.01)

    loop.run_until_complete(main())


def _bad_calls(stream_sock: socket.socket, dgram_sock: socket.socket) -> list[Any]:
    if PY313:
        sock_type_error = f"A datagram socket was expected, got {stream_sock!r}"
    else:
        sock_type_error = f"A UDP Socket was expected, got {stream_sock!r}"
    return [
        ({"sock": stream_sock}, ValueError, sock_type_error),
        (
            {"sock": dgram_sock, "local_addr": ("127.0.0.1", 0), "reuse_port": True},
            ValueError,
            "socket modifier keyword arguments can not be used when sock is specified. "
            "(local_addr=('127.0.0.1', 0), reuse_port=True)",
        ),
        ({}, ValueError, "unexpected address family"),
        ({"local_addr": ("127.0.0.1",)}, TypeError, "2-tuple is expected"),
        ({"remote_addr": "127.0.0.1:9"}, TypeError, "2-tuple is expected"),
        (
            {"local_addr": ("127.0.0.1", 0), "remote_addr": ("::1", 9)},
            ValueError,
            "can not get address information",
        ),
        (
            {"local_addr": b"/tmp/bytes.sock", "family": socket.AF_UNIX},
            TypeError,
            "string is expected",
        ),
        (
            {"remote_addr": ("127.0.0.1", 9), "family": socket.AF_UNIX},
            TypeError,
            "string is expected",
        ),
        (
            {"local_addr": ("127.0.0.1", 0), "reuse_address": True},
            TypeError,
            "unexpected keyword argument 'reuse_address'",
        ),
    ]


def test_bad_arguments_raise_what_cpython_raises(loop: asyncio.AbstractEventLoop) -> None:
    with (
        socket.socket() as stream_sock,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as dgram_sock,
    ):
        before = open_fds()
        for kwargs, exc_type, message in _bad_calls(stream_sock, dgram_sock):
            with pytest.raises(exc_type) as caught:
                loop.run_until_complete(loop.create_datagram_endpoint(Datagrams, **kwargs))
            assert message in str(caught.value), (kwargs, str(caught.value))
            if exc_type is not TypeError or "reuse_address" not in message:
                assert str(caught.value) == message
        assert open_fds() == before


def test_bind_failure_raises_the_first_error(loop: asyncio.AbstractEventLoop) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(OSError) as caught:
            loop.run_until_complete(
                loop.create_datagram_endpoint(Datagrams, local_addr=taken.getsockname())
            )
        assert isinstance(caught.value, OSError)
        assert caught.value.errno is not None


def test_pause_and_resume_reading(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        transport, proto = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        address = transport.get_extra_info("sockname")
        transport.pause_reading()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"while paused", address)
            await asyncio.sleep(0.05)
            assert proto.received == []
            transport.resume_reading()
            await proto.wait_for(1)
        assert proto.received[0][0] == b"while paused"
        transport.close()
        await proto.closed

    loop.run_until_complete(main())


def test_waiting_datagrams_arrive_in_one_batch_and_pausing_stops_it(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Datagrams waiting together are delivered by one readiness report, up to 32 (as
    libuv reads them), and a protocol that pauses inside ``datagram_received`` gets
    nothing more until it resumes, with none lost or reordered."""
    if not is_ours(loop):
        pytest.skip("asyncio reads one datagram per readiness report")

    async def main() -> tuple[list[int], list[int], list[bytes]]:
        transport, proto = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        address = transport.get_extra_info("sockname")
        seen_by_next_callback: list[int] = []
        pause_at = [0]
        record = proto.datagram_received

        def datagram_received(data: bytes, addr: Any) -> None:
            first = not proto.received
            record(data, addr)
            if first:
                loop.call_soon(lambda: seen_by_next_callback.append(len(proto.received)))
            if len(proto.received) == pause_at[0]:
                transport.pause_reading()

        proto.datagram_received = datagram_received  # type: ignore[method-assign]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for number in range(40):
                sender.sendto(b"%d" % number, address)
            await proto.wait_for(40)
            # A second burst; the protocol pauses at its fifth datagram.
            pause_at[0] = 45
            for number in range(40, 60):
                sender.sendto(b"%d" % number, address)
            await proto.wait_for(45)
            for _ in range(5):
                await asyncio.sleep(0.01)
            while_paused = [len(proto.received)]
            transport.resume_reading()
            await proto.wait_for(60)
        transport.close()
        await proto.closed
        return seen_by_next_callback, while_paused, [data for data, _ in proto.received]

    seen, while_paused, received = loop.run_until_complete(main())
    assert seen == [32]
    assert while_paused == [45]
    assert received == [b"%d" % number for number in range(60)]
