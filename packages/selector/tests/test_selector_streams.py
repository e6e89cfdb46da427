"""The StreamBackend half of every readiness backend, driven through a real EventLoop:
streams over sockets, pipes and ptys, listeners, connects and datagram endpoints."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
import tty
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from layerloop_core import EventLoop
from layerloop_core.abc import StreamBackend

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX fds (pipes, ptys)")


def spin(loop: EventLoop, until: Callable[[], bool], timeout: float = 10.0) -> None:
    async def waiter() -> None:
        while not until():
            await asyncio.sleep(0.001)

    loop.run_until_complete(asyncio.wait_for(waiter(), timeout))


def turns(loop: EventLoop, n: int = 5) -> None:
    async def waiter() -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    loop.run_until_complete(waiter())


def pattern(n: int) -> bytes:
    return (bytes(range(251)) * (n // 251 + 1))[:n]


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


class Owner:
    """A Protocol-style owner: one reused buffer, data copied out on each read."""

    def __init__(self, size: int = 65536) -> None:
        self.buffer = bytearray(size)
        self.view = memoryview(self.buffer)
        self.data = bytearray()
        self.eof = 0
        self.errors: list[BaseException] = []
        self.hints: list[int] = []
        self.on_data: Callable[[bytes], None] | None = None

    def get_read_buffer(self, size_hint: int) -> memoryview:
        self.hints.append(size_hint)
        return self.view

    def read_done(self, nbytes: int) -> None:
        if nbytes == 0:
            self.eof += 1
            return
        chunk = bytes(self.view[:nbytes])
        self.data += chunk
        if self.on_data is not None:
            self.on_data(chunk)

    def read_failed(self, exc: BaseException) -> None:
        self.errors.append(exc)


class BytesOwner(Owner):
    """An owner that takes its reads as bytes objects while ``wants_bytes`` is true (a
    BytesStreamOwner), and lends its buffer otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.wants_bytes = True
        self.objects: list[bytes] = []
        self.lent = 0

    def get_read_buffer(self, size_hint: int) -> memoryview:
        self.lent += 1
        return super().get_read_buffer(size_hint)

    def read_bytes(self, data: bytes) -> None:
        assert type(data) is bytes
        if not data:
            self.eof += 1
            return
        self.objects.append(data)
        self.data += data


class BufferedOwner:
    """A BufferedProtocol-style owner: reads land in place in one preallocated buffer."""

    def __init__(self, total: int) -> None:
        self.target = bytearray(total)
        self.view = memoryview(self.target)
        self.filled = 0
        self.lent: list[int] = []
        self.eof = 0
        self.errors: list[BaseException] = []

    def get_read_buffer(self, size_hint: int) -> memoryview:
        self.lent.append(self.filled)
        return self.view[self.filled : self.filled + 4096]

    def read_done(self, nbytes: int) -> None:
        if nbytes == 0:
            self.eof += 1
        self.filled += nbytes

    def read_failed(self, exc: BaseException) -> None:
        self.errors.append(exc)


class Recorder:
    """Collects operation callbacks, to check each runs exactly once."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    client.setblocking(False)
    server.setblocking(False)
    with client, server:
        yield client, server


def test_every_backend_is_a_stream_backend(our_loop: EventLoop) -> None:
    assert isinstance(our_loop.backend, StreamBackend)


def test_echo_protocol_style(our_loop: EventLoop) -> None:
    backend: Any = our_loop.backend
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    client_owner = Owner()
    server_owner = Owner()
    client = backend.open_stream(a, client_owner)
    server = backend.open_stream(b, server_owner)

    def echo(chunk: bytes) -> None:
        assert server.try_write(memoryview(chunk)) == len(chunk)

    server_owner.on_data = echo
    server.start_reading()
    client.start_reading()
    payload = pattern(100_000)
    sent = client.try_write(memoryview(payload))
    writes = Recorder()
    if sent < len(payload):
        client.write(memoryview(payload)[sent:], writes)
    spin(our_loop, lambda: len(client_owner.data) >= len(payload))
    assert bytes(client_owner.data) == payload
    assert writes.calls in ([], [(len(payload) - sent, None)])
    assert set(client_owner.hints) == {-1}
    closed = Recorder()
    client.close(closed)
    server.close(closed)
    turns(our_loop)
    assert closed.calls == [(), ()]
    assert a.fileno() == -1 and b.fileno() == -1


def test_buffered_style_reads_land_in_place(our_loop: EventLoop) -> None:
    backend: Any = our_loop.backend
    a, b = socket.socketpair()
    a.setblocking(False)
    owner = BufferedOwner(50_000)
    stream = backend.open_stream(a, owner)
    payload = pattern(50_000)
    b.sendall(payload)
    b.close()
    stream.start_reading()
    spin(our_loop, lambda: owner.eof == 1)
    assert bytes(owner.target) == payload
    assert owner.lent[0] == 0 and owner.lent == sorted(owner.lent)
    done = Recorder()
    stream.close(done)
    turns(our_loop)
    assert done.calls == [()]


def test_reads_as_bytes_for_an_owner_that_wants_them(our_loop: EventLoop, tcp_pair: Any) -> None:
    """A readiness backend hands a socket's reads to a BytesStreamOwner as new bytes
    objects while it wants them (no buffer lent), lends the buffer again once it does
    not, and reports end of stream and errors the same way on both paths."""
    backend: Any = our_loop.backend
    assert backend.reads_bytes is True
    a, b = tcp_pair
    owner = BytesOwner()
    stream = backend.open_stream(a, owner)
    stream.start_reading()
    payload = pattern(300_000)
    b.setblocking(True)
    b.sendall(payload[:200_000])
    spin(our_loop, lambda: len(owner.data) == 200_000)
    assert owner.lent == 0 and owner.objects
    assert b"".join(owner.objects) == payload[:200_000]
    owner.wants_bytes = False
    b.sendall(payload[200_000:])
    spin(our_loop, lambda: len(owner.data) == len(payload))
    assert owner.lent > 0
    assert bytes(owner.data) == payload
    owner.wants_bytes = True
    b.shutdown(socket.SHUT_WR)
    spin(our_loop, lambda: owner.eof == 1)
    turns(our_loop)
    assert owner.eof == 1 and not owner.errors  # reading stopped at end of stream
    stream.close(Recorder())
    turns(our_loop)

    # A reset reaches read_failed on the bytes path too.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        e = socket.create_connection(listener.getsockname())
        f, _ = listener.accept()
    e.setblocking(False)
    reset_owner = BytesOwner()
    reset_stream = backend.open_stream(e, reset_owner)
    reset_stream.start_reading()
    f.sendall(b"unread by the peer")
    spin(our_loop, lambda: bool(reset_owner.data))
    f.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    assert reset_stream.try_write(memoryview(b"x")) == 1
    turns(our_loop)
    f.close()  # unread data + linger 0: the kernel sends RST
    spin(our_loop, lambda: bool(reset_owner.errors))
    assert isinstance(reset_owner.errors[0], ConnectionResetError)
    assert reset_owner.lent == 0
    reset_stream.close(Recorder())
    turns(our_loop)


def test_pipes_lend_buffers_even_to_an_owner_that_wants_bytes(our_loop: EventLoop) -> None:
    backend: Any = our_loop.backend
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    owner = BytesOwner()
    stream = backend.open_stream(rfd, owner)
    stream.start_reading()
    os.write(wfd, b"through a pipe")
    os.close(wfd)
    spin(our_loop, lambda: owner.eof == 1)
    assert owner.data == b"through a pipe"
    assert owner.objects == [] and owner.lent > 0
    stream.close(Recorder())
    turns(our_loop)


def test_callbacks_never_inline(our_loop: EventLoop, tcp_pair: Any) -> None:
    backend: Any = our_loop.backend
    a, b = tcp_pair
    b.send(b"already here")
    owner = Owner()
    stream = backend.open_stream(a, owner)
    stream.start_reading()
    assert owner.data == b""  # data was waiting, but nothing is reported inside the call
    shut = Recorder()
    stream.shutdown_write(shut)
    assert shut.calls == []
    spin(our_loop, lambda: bool(owner.data) and bool(shut.calls))
    assert owner.data == b"already here"
    assert shut.calls == [(None,)]
    assert b.recv(10) == b""  # the peer sees end of stream
    closed = Recorder()
    stream.close(closed)
    assert closed.calls == []
    turns(our_loop)
    assert closed.calls == [()]


def test_large_write_backpressure_and_bounded_memory(our_loop: EventLoop, tcp_pair: Any) -> None:
    backend: Any = our_loop.backend
    a, b = tcp_pair
    stream = backend.open_stream(a, Owner())
    payload = pattern(8 * 1024 * 1024)
    tracemalloc.start()
    try:
        sent = stream.try_write(memoryview(payload))
        assert 0 < sent < len(payload)  # the socket buffer filled up
        done = Recorder()
        stream.write(memoryview(payload)[sent:], done)
        turns(our_loop, 20)
        assert done.calls == []  # the slow reader keeps the write outstanding
        with pytest.raises(RuntimeError):
            stream.try_write(memoryview(b"x"))  # one write at a time
        received = bytearray()
        sink = bytearray(65536)

        def drain() -> bool:
            try:
                while True:
                    n = b.recv_into(sink)
                    received.extend(sink[:n])
            except BlockingIOError:
                pass
            return bool(done.calls)

        spin(our_loop, drain)
        drain()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert done.calls == [(len(payload) - sent, None)]
    while len(received) < len(payload):
        b.setblocking(True)
        received.extend(b.recv(65536))
    assert bytes(received) == payload
    # The backend never copied the 8 MiB (the test's own `received` grows to 8 MiB).
    assert peak < 8 * 1024 * 1024 + 2 * 1024 * 1024
    stream.close(Recorder())
    turns(our_loop)


def test_eof_and_half_close(our_loop: EventLoop, tcp_pair: Any) -> None:
    backend: Any = our_loop.backend
    a, b = tcp_pair
    oa, ob = Owner(), Owner()
    sa = backend.open_stream(a, oa)
    sb = backend.open_stream(b, ob)
    sa.start_reading()
    sb.start_reading()
    payload = pattern(300_000)
    sent = sa.try_write(memoryview(payload))
    wrote = Recorder()
    shut = Recorder()
    order: list[str] = []
    if sent < len(payload):
        sa.write(memoryview(payload)[sent:], lambda n, e: (order.append("write"), wrote(n, e)))
    sa.shutdown_write(lambda e: (order.append("shutdown"), shut(e)))
    with pytest.raises(RuntimeError):
        sa.shutdown_write(Recorder())
    spin(our_loop, lambda: ob.eof == 1)
    assert bytes(ob.data) == payload
    assert shut.calls == [(None,)]
    assert order[-1] == "shutdown"
    turns(our_loop)
    assert ob.eof == 1  # reported once: reading stopped at end of stream
    # The half-closed direction still works the other way.
    assert sb.try_write(memoryview(b"reply")) == 5
    spin(our_loop, lambda: oa.data == b"reply")
    for s in (sa, sb):
        s.close(Recorder())
    turns(our_loop)


def test_close_during_outstanding_write(our_loop: EventLoop) -> None:
    backend: Any = our_loop.backend
    before = fd_count()
    for _ in range(20):
        a, b = socket.socketpair()
        a.setblocking(False)
        stream = backend.open_stream(a, Owner())
        stream.start_reading()
        payload = memoryview(pattern(4 * 1024 * 1024))
        sent = stream.try_write(payload)
        writes = Recorder()
        stream.write(payload[sent:], writes)
        turns(our_loop, 2)
        order: list[str] = []
        stream.close(lambda order=order: order.append("closed"))
        assert a.fileno() == -1
        with pytest.raises(RuntimeError):
            stream.close(Recorder())
        turns(our_loop)
        assert len(writes.calls) == 1
        nbytes, exc = writes.calls[0]
        assert isinstance(exc, asyncio.CancelledError) and nbytes == 0
        assert order == ["closed"]
        assert backend.remove_reader(b.fileno()) is False
        b.close()
    assert fd_count() == before


def test_peer_reset_mid_write(our_loop: EventLoop, tcp_pair: Any) -> None:
    backend: Any = our_loop.backend
    a, b = tcp_pair
    owner = Owner()
    stream = backend.open_stream(a, owner)
    stream.start_reading()
    payload = memoryview(pattern(8 * 1024 * 1024))
    sent = stream.try_write(payload)
    writes = Recorder()
    stream.write(payload[sent:], writes)
    turns(our_loop, 3)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    b.close()  # unread data + linger 0: the kernel sends RST
    spin(our_loop, lambda: bool(writes.calls) and bool(owner.errors))
    turns(our_loop, 10)
    assert len(writes.calls) == 1
    assert isinstance(writes.calls[0][1], (ConnectionResetError, BrokenPipeError))
    assert len(owner.errors) == 1
    assert isinstance(owner.errors[0], ConnectionResetError)
    stream.close(Recorder())
    turns(our_loop)


def test_listener_accepts_many(our_loop: EventLoop) -> None:
    backend: Any = our_loop.backend
    server = socket.create_server(("127.0.0.1", 0), backlog=200)
    server.setblocking(False)
    accepted: list[socket.socket] = []
    errors: list[OSError | None] = []

    def on_accept(conn: socket.socket | None, address: Any, exc: OSError | None) -> None:
        if conn is None:
            errors.append(exc)
        else:
            assert conn.getblocking() is False
            accepted.append(conn)

    listener = backend.listen(server, on_accept, backlog=8)
    clients = [socket.create_connection(server.getsockname()) for _ in range(60)]
    spin(our_loop, lambda: len(accepted) == 60)
    assert errors == []
    listener.pause()
    late = socket.create_connection(server.getsockname())
    turns(our_loop, 10)
    assert len(accepted) == 60  # paused: the connection waits in the backlog
    listener.resume()
    spin(our_loop, lambda: len(accepted) == 61)
    closed = Recorder()
    listener.close(closed)
    turns(our_loop)
    assert closed.calls == [()] and server.fileno() == -1
    for s in [*accepted, *clients, late]:
        s.close()


EMFILE_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, resource, socket, sys
    from layerloop_core import EventLoop
    import layerloop_selector

    loop = EventLoop(getattr(layerloop_selector, sys.argv[1])())
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    clients = [socket.create_connection(server.getsockname()) for _ in range(3)]
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(3)]
    # No free fd left: every accept fails with EMFILE.
    highest = max(int(n) for n in os.listdir("/proc/self/fd"))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, hard))
    events = []
    accepted = []

    def on_accept(conn, address, exc):
        if exc is not None:
            events.append(exc.errno)
            listener.pause()
            # Back off, free some fds, accept again.
            loop.call_later(0.05, recover)
        else:
            accepted.append(conn)

    def recover():
        while spare:
            os.close(spare.pop())
        listener.resume()

    listener = loop.backend.listen(server, on_accept)

    async def main():
        while len(accepted) < 3:
            await asyncio.sleep(0.01)

    loop.run_until_complete(asyncio.wait_for(main(), 10))
    print(json.dumps({"errors": events, "accepted": len(accepted)}))
    """
)


def test_emfile_on_accept_reported_and_recoverable(our_loop: EventLoop) -> None:
    cls = type(our_loop.backend).__name__
    proc = subprocess.run(
        [sys.executable, "-c", EMFILE_SCRIPT, cls],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["errors"] == [errno.EMFILE]  # reported once, then paused
    assert result["accepted"] == 3  # and every connection served after resume


def test_connect_refused_success_and_cancel(our_loop: EventLoop) -> None:
    backend: Any = our_loop.backend
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    dead = probe.getsockname()
    probe.close()
    sock = socket.socket()
    sock.setblocking(False)
    refused = Recorder()
    backend.connect(sock, dead, refused)
    assert refused.calls == []
    spin(our_loop, lambda: bool(refused.calls))
    assert isinstance(refused.calls[0][0], ConnectionRefusedError)
    sock.close()

    with socket.create_server(("127.0.0.1", 0)) as server:
        sock = socket.socket()
        sock.setblocking(False)
        ok = Recorder()
        backend.connect(sock, server.getsockname(), ok)
        spin(our_loop, lambda: bool(ok.calls))
        assert ok.calls == [(None,)]
        assert sock.getpeername() == server.getsockname()
        sock.close()

    # A connect that cannot finish (a non-routable address): cancel reports once.
    sock = socket.socket()
    sock.setblocking(False)
    cancelled = Recorder()
    op = backend.connect(sock, ("10.255.255.1", 9), cancelled)
    op.cancel()
    op.cancel()
    turns(our_loop)
    assert len(cancelled.calls) == 1
    assert isinstance(cancelled.calls[0][0], (asyncio.CancelledError, OSError))
    assert backend.remove_writer(sock.fileno()) is False
    sock.close()


class DatagramOwner:
    def __init__(self) -> None:
        self.received: list[tuple[bytes, Any]] = []
        self.errors: list[OSError] = []

    def datagram_received(self, data: bytes, address: Any) -> None:
        self.received.append((data, address))

    def receive_failed(self, exc: OSError) -> None:
        self.errors.append(exc)


def test_udp_send_receive_and_icmp_error(our_loop: EventLoop) -> None:
    backend: Any = our_loop.backend
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (a, b):
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
    oa, ob = DatagramOwner(), DatagramOwner()
    ea = backend.open_datagram(a, oa)
    eb = backend.open_datagram(b, ob)
    eb.start_receiving()
    assert ea.try_send(memoryview(b"one"), b.getsockname()) is True
    sent = Recorder()
    ea.send(memoryview(b"two"), b.getsockname(), sent)
    assert sent.calls == []
    spin(our_loop, lambda: len(ob.received) == 2)
    assert ob.received == [(b"one", a.getsockname()), (b"two", a.getsockname())]
    assert sent.calls == [(None,)]
    ea.close(Recorder())
    eb.close(Recorder())

    # Connected UDP to a closed port: the ICMP error reaches receive_failed, and
    # receiving carries on afterwards.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    dead = probe.getsockname()
    probe.close()
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.setblocking(False)
    c.connect(dead)
    oc = DatagramOwner()
    ec = backend.open_datagram(c, oc)
    ec.start_receiving()
    assert ec.try_send(memoryview(b"ping"), None) is True
    spin(our_loop, lambda: bool(oc.errors))
    assert isinstance(oc.errors[0], ConnectionRefusedError)
    turns(our_loop, 5)
    assert len(oc.errors) == 1
    closed = Recorder()
    ec.close(closed)
    turns(our_loop)
    assert closed.calls == [()] and c.fileno() == -1


def test_pipes_through_open_stream(our_loop: EventLoop) -> None:
    backend: Any = our_loop.backend
    before = fd_count()
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    os.set_blocking(wfd, False)
    reader = open(rfd, "rb", buffering=0)  # noqa: SIM115 - the stream closes it; a file object, as connect_read_pipe gets it
    rowner, wowner = Owner(), Owner()
    rs = backend.open_stream(reader, rowner)
    ws = backend.open_stream(wfd, wowner)  # a bare fd
    rs.start_reading()
    ws.start_reading()  # on a write-only end: watch for the reader going away
    payload = pattern(200_000)
    sent = ws.try_write(memoryview(payload))
    done = Recorder()
    ws.write(memoryview(payload)[sent:], done)
    spin(our_loop, lambda: bool(done.calls))
    assert done.calls == [(len(payload) - sent, None)]
    spin(our_loop, lambda: len(rowner.data) == len(payload))
    assert bytes(rowner.data) == payload
    shut = Recorder()
    ws.shutdown_write(shut)
    turns(our_loop)
    assert shut.calls and isinstance(shut.calls[0][0], OSError)  # pipes are not sockets
    rs.close(Recorder())  # the reader goes away
    assert reader.closed
    spin(our_loop, lambda: wowner.eof == 1)
    with pytest.raises(BrokenPipeError):
        ws.try_write(memoryview(b"x"))
    ws.close(Recorder())
    turns(our_loop)
    assert fd_count() == before

    # The other direction: the writer closes, the reader sees end of stream.
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    owner = Owner()
    rs = backend.open_stream(rfd, owner)
    rs.start_reading()
    os.write(wfd, b"last words")
    os.close(wfd)
    spin(our_loop, lambda: owner.eof == 1)
    assert owner.data == b"last words"
    rs.close(Recorder())
    turns(our_loop)
    assert fd_count() == before


def test_pty_through_open_stream(our_loop: EventLoop) -> None:
    backend: Any = our_loop.backend
    master, slave = os.openpty()
    os.set_blocking(master, False)
    tty.setraw(slave)
    owner = Owner()
    stream = backend.open_stream(master, owner)
    stream.start_reading()
    os.write(slave, b"from the terminal")
    spin(our_loop, lambda: owner.data == b"from the terminal")
    assert stream.try_write(memoryview(b"to the terminal")) == 15
    assert os.read(slave, 100) == b"to the terminal"
    os.close(slave)
    # Linux reports a master whose slave closed as EIO (the owner maps it to EOF).
    spin(our_loop, lambda: bool(owner.errors) or owner.eof == 1)
    stream.close(Recorder())
    turns(our_loop)


def test_sendfile_offset_and_count(our_loop: EventLoop, tcp_pair: Any) -> None:
    backend: Any = our_loop.backend
    a, b = tcp_pair
    content = pattern(3 * 1024 * 1024)
    with tempfile.TemporaryFile() as f:
        f.write(content)
        f.flush()
        f.seek(7)
        stream = backend.open_stream(a, Owner())
        done = Recorder()
        stream.sendfile(f.fileno(), 1000, 2 * 1024 * 1024, done)
        assert done.calls == []
        received = bytearray()
        sink = bytearray(65536)

        def drain() -> bool:
            try:
                while True:
                    n = b.recv_into(sink)
                    received.extend(sink[:n])
            except BlockingIOError:
                pass
            return bool(done.calls)

        spin(our_loop, drain)
        assert done.calls == [(2 * 1024 * 1024, None)]
        spin(our_loop, lambda: drain() and len(received) == 2 * 1024 * 1024)
        assert bytes(received) == content[1000 : 1000 + 2 * 1024 * 1024]
        assert f.tell() == 7  # the stream neither uses nor moves the position

        # A source sendfile(2) refuses (a pipe): reported before any byte, so the
        # owner can fall back.
        rfd, wfd = os.pipe()
        refused = Recorder()
        stream.sendfile(rfd, 0, 10, refused)
        spin(our_loop, lambda: bool(refused.calls))
        assert refused.calls[0][0] == 0
        assert isinstance(refused.calls[0][1], asyncio.SendfileNotAvailableError)
        os.close(rfd)
        os.close(wfd)
        stream.close(Recorder())
        turns(our_loop)
