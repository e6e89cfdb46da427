"""The ``sock_*`` operations on a real loop: layerloop's EventLoop on every usable backend,
and stdlib asyncio's SelectorEventLoop on the matching selector as the oracle.

Every scenario also checks that the operation left no watch behind:
``loop.remove_reader(fd)``/``remove_writer(fd)`` must report that nothing was watched.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import io
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import pytest

from conftest import is_ours
from layerloop_core import EventLoop

if sys.platform != "win32":
    import resource

_T = TypeVar("_T")


def run(loop: asyncio.AbstractEventLoop, coro: Awaitable[_T], timeout: float = 20.0) -> _T:
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def assert_no_watches(loop: asyncio.AbstractEventLoop, *socks: socket.socket) -> None:
    for sock in socks:
        assert loop.remove_reader(sock.fileno()) is False, f"reader left on {sock}"
        assert loop.remove_writer(sock.fileno()) is False, f"writer left on {sock}"


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair of non-blocking TCP sockets over loopback."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    client.setblocking(False)
    server.setblocking(False)
    with client, server:
        yield client, server


@pytest.fixture
def udp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with a, b:
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        yield a, b


async def recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = await loop.sock_recv(sock, min(65536, n - len(chunks)))
        if not chunk:
            break
        chunks += chunk
    return bytes(chunks)


def pattern(n: int) -> bytes:
    return (bytes(range(251)) * (n // 251 + 1))[:n]


# -- streams --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 1000, 300_000])
def test_echo_over_a_socketpair(loop: asyncio.AbstractEventLoop, sockpair: Any, size: int) -> None:
    a, b = sockpair
    data = pattern(size)

    async def echo() -> None:
        got = 0
        while got < size:
            chunk = await loop.sock_recv(b, 65536)
            got += len(chunk)
            await loop.sock_sendall(b, chunk)

    async def main() -> bytes:
        server = asyncio.ensure_future(echo())
        reply = asyncio.ensure_future(recv_exactly(loop, a, size))
        await loop.sock_sendall(a, data)
        await server
        return await reply

    assert run(loop, main()) == data
    assert_no_watches(loop, a, b)


def test_recv_into_waits_and_fills_the_buffer(
    loop: asyncio.AbstractEventLoop, sockpair: Any
) -> None:
    a, b = sockpair
    buf = bytearray(16)

    async def main() -> int:
        task = asyncio.ensure_future(loop.sock_recv_into(b, memoryview(buf)[4:]))
        await asyncio.sleep(0.01)
        assert not task.done()
        await loop.sock_sendall(a, b"hello")
        return await task

    assert run(loop, main()) == 5
    assert buf == b"\0\0\0\0hello" + b"\0" * 7
    assert_no_watches(loop, a, b)


def test_recv_returns_empty_bytes_at_end_of_stream(
    loop: asyncio.AbstractEventLoop, sockpair: Any
) -> None:
    a, b = sockpair

    async def main() -> bytes:
        task = asyncio.ensure_future(loop.sock_recv(b, 100))
        await asyncio.sleep(0.01)
        a.shutdown(socket.SHUT_WR)
        return await task

    assert run(loop, main()) == b""
    assert_no_watches(loop, b)


def test_recv_reports_a_reset_connection(loop: asyncio.AbstractEventLoop, tcp_pair: Any) -> None:
    client, server = tcp_pair

    async def main() -> bytes:
        task = asyncio.ensure_future(loop.sock_recv(server, 100))
        await asyncio.sleep(0.01)
        # SO_LINGER 0: close sends RST instead of FIN.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        client.close()
        return await task

    with pytest.raises(ConnectionResetError):
        run(loop, main())
    assert_no_watches(loop, server)


def test_connect_and_accept_over_loopback(loop: asyncio.AbstractEventLoop) -> None:
    listener = socket.socket()
    client = socket.socket()
    with listener, client:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        listener.setblocking(False)
        client.setblocking(False)

        async def main() -> tuple[socket.socket, Any]:
            accept = asyncio.ensure_future(loop.sock_accept(listener))
            await asyncio.sleep(0.01)  # accept waits first
            await loop.sock_connect(client, listener.getsockname())
            return await accept

        conn, address = run(loop, main())
        with conn:
            assert conn.gettimeout() == 0  # non-blocking
            assert address == client.getsockname()
            assert client.getpeername() == listener.getsockname()

            async def exchange() -> tuple[bytes, bytes]:
                await loop.sock_sendall(client, b"ping")
                got = await recv_exactly(loop, conn, 4)
                await loop.sock_sendall(conn, b"pong")
                return got, await recv_exactly(loop, client, 4)

            assert run(loop, exchange()) == (b"ping", b"pong")
        assert_no_watches(loop, listener, client)


def test_connect_refused(loop: asyncio.AbstractEventLoop) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()  # nothing listens here once closed
    with socket.socket() as sock:
        sock.setblocking(False)
        with pytest.raises(ConnectionRefusedError) as info:
            run(loop, loop.sock_connect(sock, address))
        assert_no_watches(loop, sock)
    if is_ours(loop):
        assert f"Connect call failed {address}" in str(info.value)


def test_connect_over_unix_socket(loop: asyncio.AbstractEventLoop, tmp_path: Any) -> None:
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("needs AF_UNIX")
    path = str(tmp_path / "sock")
    with socket.socket(socket.AF_UNIX) as listener, socket.socket(socket.AF_UNIX) as client:
        listener.bind(path)
        listener.listen(1)
        listener.setblocking(False)
        client.setblocking(False)

        async def main() -> bytes:
            await loop.sock_connect(client, path)
            conn, _ = await loop.sock_accept(listener)
            with conn:
                await loop.sock_sendall(client, b"over unix")
                return await recv_exactly(loop, conn, 9)

        assert run(loop, main()) == b"over unix"


def test_sendall_of_megabytes_to_a_slow_reader(
    loop: asyncio.AbstractEventLoop, tcp_pair: Any
) -> None:
    client, server = tcp_pair
    data = pattern(6_000_000)

    async def slow_reader() -> bytes:
        got = bytearray()
        while len(got) < len(data):
            got += await loop.sock_recv(server, 32768)
            if len(got) % 4 == 0:
                await asyncio.sleep(0.0005)
        return bytes(got)

    async def main() -> bytes:
        reader = asyncio.ensure_future(slow_reader())
        await loop.sock_sendall(client, data)
        return await reader

    assert run(loop, main()) == data
    assert_no_watches(loop, client, server)


def test_sendall_counts_bytes_not_items(
    request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop, sockpair: Any
) -> None:
    if not is_ours(loop):
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                raises=asyncio.TimeoutError,
                reason="asyncio's sock_sendall slices the data by items after a partial "
                "send, so a buffer of multi-byte items is sent wrongly",
            )
        )
    a, b = sockpair
    items = array.array("i", range(500_000))  # 2 MB: far more than a socket buffer

    async def main() -> bytes:
        reader = asyncio.ensure_future(recv_exactly(loop, b, len(items) * items.itemsize))
        await loop.sock_sendall(a, items)
        body = await reader
        await loop.sock_sendall(a, b"end")
        return body + await recv_exactly(loop, b, 3)

    # asyncio's loop never finishes (it waits for bytes it skipped): a short bound there.
    assert run(loop, main(), timeout=3.0 if is_ours(loop) else 1.0) == items.tobytes() + b"end"


def test_sendall_of_nothing_returns_at_once(loop: asyncio.AbstractEventLoop, sockpair: Any) -> None:
    a, _ = sockpair
    assert run(loop, loop.sock_sendall(a, b"")) is None
    assert_no_watches(loop, a)


# -- cancellation -----------------------------------------------------------------------------


def test_cancelled_recv_loses_no_data(loop: asyncio.AbstractEventLoop, sockpair: Any) -> None:
    a, b = sockpair

    async def main() -> bytes:
        task = asyncio.ensure_future(loop.sock_recv(b, 100))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert_no_watches(loop, b)
        a.send(b"kept")
        return await loop.sock_recv(b, 100)

    assert run(loop, main()) == b"kept"
    assert_no_watches(loop, b)


def _race_recv(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> Awaitable[Any]:
    return loop.sock_recv(sock, 100)


def _race_recvfrom(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> Awaitable[Any]:
    return loop.sock_recvfrom(sock, 100)


@pytest.mark.parametrize("op", [_race_recv, _race_recvfrom], ids=["recv", "recvfrom"])
def test_cancel_racing_readiness_loses_no_data(
    request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop, op: Any
) -> None:
    """The data arrives and the cancel comes in the same iteration, after the poll: the
    task either returns the data or is cancelled with the data still in the kernel."""
    if not is_ours(loop):
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="asyncio's selector loop receives inside the I/O callback; a cancel "
                "arriving before the task resumes drops what it received",
            )
        )
    kind = socket.SOCK_DGRAM if op is _race_recvfrom else socket.SOCK_STREAM
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    with a, b:
        b.setblocking(False)

        async def main() -> Any:
            task = asyncio.ensure_future(op(loop, b))
            await asyncio.sleep(0.01)
            a.send(b"payload")
            # A timer due now runs after the I/O callbacks of the next iteration.
            loop.call_later(0, task.cancel)
            try:
                return await task
            except asyncio.CancelledError:
                try:
                    return b.recv(100)
                except BlockingIOError:
                    return None

        got = run(loop, main())
        if isinstance(got, tuple):
            got = got[0]
        assert got == b"payload"
        assert_no_watches(loop, b)


def test_cancelled_accept_loses_no_connection(
    request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop
) -> None:
    if not is_ours(loop):
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="asyncio's selector loop accepts inside the I/O callback; a cancel "
                "arriving before the task resumes drops the accepted connection",
            )
        )
    with socket.socket() as listener, socket.socket() as client:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        listener.setblocking(False)

        async def main() -> bool:
            task = asyncio.ensure_future(loop.sock_accept(listener))
            await asyncio.sleep(0.01)
            client.connect(listener.getsockname())  # completes in the kernel backlog
            loop.call_later(0, task.cancel)
            try:
                conn, _ = await task
            except asyncio.CancelledError:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    return False
            conn.close()
            return True

        assert run(loop, main()) is True
        assert_no_watches(loop, listener)


def test_cancelled_accept_then_accept_again(loop: asyncio.AbstractEventLoop) -> None:
    with socket.socket() as listener, socket.socket() as client:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        listener.setblocking(False)
        with pytest.raises(asyncio.TimeoutError):
            loop.run_until_complete(asyncio.wait_for(loop.sock_accept(listener), 0.05))
        assert_no_watches(loop, listener)
        client.connect(listener.getsockname())
        conn, _ = run(loop, loop.sock_accept(listener))
        conn.close()


def test_cancelled_sendall_keeps_the_stream_consistent(
    loop: asyncio.AbstractEventLoop, tcp_pair: Any
) -> None:
    """Cancel a sendall stuck on a full buffer: the bytes already sent stay sent, in
    order, and a later sendall continues the stream."""
    client, server = tcp_pair
    data = pattern(8_000_000)

    async def main() -> bytes:
        task = asyncio.ensure_future(loop.sock_sendall(client, data))
        await asyncio.sleep(0.05)
        assert not task.done()  # nobody reads: the socket buffers are full
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert_no_watches(loop, client)
        await asyncio.gather(loop.sock_sendall(client, b"TAIL"), asyncio.sleep(0))
        client.shutdown(socket.SHUT_WR)
        got = bytearray()
        while chunk := await loop.sock_recv(server, 1 << 16):
            got += chunk
        return bytes(got)

    got = run(loop, main())
    assert got.endswith(b"TAIL")
    sent = got[:-4]
    assert 0 < len(sent) < len(data)
    assert sent == data[: len(sent)]


def test_cancelled_connect_removes_its_watch(loop: asyncio.AbstractEventLoop) -> None:
    # 192.0.2.0/24 (TEST-NET-1) is never routed, so the connect stays in progress; some
    # sandboxes refuse it at once instead, which also leaves no watch.
    with socket.socket() as sock:
        sock.setblocking(False)

        async def main() -> None:
            task = asyncio.ensure_future(loop.sock_connect(sock, ("192.0.2.1", 9)))
            await asyncio.sleep(0.02)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task

        run(loop, main())
        assert_no_watches(loop, sock)


def test_two_waiting_recvs_last_registration_wins(
    loop: asyncio.AbstractEventLoop, sockpair: Any
) -> None:
    """As in CPython: a second sock_recv on the same socket takes the watch over; the
    first waits until cancelled, and cancelling it does not disturb the second."""
    a, b = sockpair

    async def main() -> bytes:
        first = asyncio.ensure_future(loop.sock_recv(b, 100))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(loop.sock_recv(b, 100))
        await asyncio.sleep(0.01)
        first.cancel()
        await asyncio.sleep(0.01)
        a.send(b"for the second")
        return await second

    assert run(loop, main()) == b"for the second"
    assert_no_watches(loop, b)


# -- datagrams --------------------------------------------------------------------------------


def test_sendto_and_recvfrom(loop: asyncio.AbstractEventLoop, udp_pair: Any) -> None:
    a, b = udp_pair

    async def main() -> tuple[Any, int]:
        task = asyncio.ensure_future(loop.sock_recvfrom(b, 100))
        await asyncio.sleep(0.01)
        n = await loop.sock_sendto(a, b"datagram", b.getsockname())
        return await task, n

    (data, sender), n = run(loop, main())
    assert (data, sender, n) == (b"datagram", a.getsockname(), 8)
    assert_no_watches(loop, a, b)


@pytest.mark.parametrize(("nbytes", "expected"), [(0, b"0123456789"), (4, b"0123")])
def test_recvfrom_into(
    loop: asyncio.AbstractEventLoop, udp_pair: Any, nbytes: int, expected: bytes
) -> None:
    a, b = udp_pair
    buf = bytearray(32)

    async def main() -> tuple[int, Any]:
        task = asyncio.ensure_future(loop.sock_recvfrom_into(b, buf, nbytes))
        await asyncio.sleep(0.01)
        await loop.sock_sendto(a, b"0123456789", b.getsockname())
        return await task

    n, sender = run(loop, main())
    assert (bytes(buf[:n]), sender) == (expected, a.getsockname())
    assert_no_watches(loop, b)


class _BlocksOnce:
    """A socket whose first call of one method would block (or is interrupted), as a
    real socket does under load; everything else goes to the real socket."""

    def __init__(
        self, sock: socket.socket, method: str, exc: type[OSError], times: int = 1
    ) -> None:
        self._sock = sock
        self._method = method
        self._exc = exc
        self._times = times
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._sock, name)
        if name != self._method:
            return real

        def once(*args: Any) -> Any:
            self.calls += 1
            if self.calls <= self._times:
                raise self._exc
            return real(*args)

        return once


@pytest.mark.parametrize("exc", [BlockingIOError, InterruptedError])
def test_sendto_retries_after_would_block(
    loop: asyncio.AbstractEventLoop, udp_pair: Any, exc: Any
) -> None:
    a, b = udp_pair
    flaky: Any = _BlocksOnce(a, "sendto", exc)

    async def main() -> tuple[int, Any]:
        n = await loop.sock_sendto(flaky, b"x" * 100, b.getsockname())
        return n, await loop.sock_recvfrom(b, 200)

    n, (data, _) = run(loop, main())
    assert (n, data, flaky.calls) == (100, b"x" * 100, 2)
    assert_no_watches(loop, a)


class _Swapped:
    """A socket whose *method* would block until the test swaps the real one in, while
    the operation waits (CPython's test_sendto_blocking does this with a Mock)."""

    def __init__(self, sock: socket.socket, method: str) -> None:
        self._sock = sock
        setattr(self, method, self._would_block)

    def _would_block(self, *args: Any) -> Any:
        raise BlockingIOError

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@pytest.mark.parametrize("method", ["sendto", "recvfrom", "recvfrom_into", "accept"])
def test_the_method_is_looked_up_again_after_each_wait(
    loop: asyncio.AbstractEventLoop, udp_pair: Any, method: str
) -> None:
    a, b = udp_pair
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    client = socket.create_connection(listener.getsockname())
    with listener, client:
        b.sendto(b"waiting", a.getsockname())
        target = listener if method == "accept" else a
        swapped: Any = _Swapped(target, method)

        async def main() -> Any:
            # Runs after the first attempt would block, before the retry.
            loop.call_soon(setattr, swapped, method, getattr(target, method))
            if method == "sendto":
                return await loop.sock_sendto(swapped, b"x", b.getsockname())
            if method == "recvfrom":
                return (await loop.sock_recvfrom(swapped, 100))[0]
            if method == "recvfrom_into":
                buf = bytearray(100)
                n, _ = await loop.sock_recvfrom_into(swapped, buf)
                return bytes(buf[:n])
            conn, _ = await loop.sock_accept(swapped)
            conn.close()
            return "accepted"

        expected = {"sendto": 1, "accept": "accepted"}.get(method, b"waiting")
        assert run(loop, main(), timeout=5.0) == expected
        assert_no_watches(loop, a, listener)


@pytest.mark.parametrize("times", [1, 3], ids=["once", "thrice"])
@pytest.mark.parametrize("exc", [BlockingIOError, InterruptedError])
@pytest.mark.parametrize("method", ["recv", "recv_into", "send"])
def test_stream_calls_retry_after_eintr_or_would_block(
    loop: asyncio.AbstractEventLoop, sockpair: Any, method: str, exc: Any, times: int
) -> None:
    """The call fails *times* times although the fd is ready (a spurious wakeup after the
    first wait): the operation waits again and completes."""
    a, b = sockpair
    a.send(b"ready")
    flaky: Any = _BlocksOnce(b, method, exc, times)

    async def main() -> Any:
        if method == "recv":
            return await loop.sock_recv(flaky, 100)
        if method == "recv_into":
            buf = bytearray(10)
            n = await loop.sock_recv_into(flaky, buf)
            return bytes(buf[:n])
        await loop.sock_sendall(flaky, b"sent")
        return a.recv(100)

    assert run(loop, main()) == (b"sent" if method == "send" else b"ready")
    assert flaky.calls == times + 1
    assert_no_watches(loop, b)


def test_accept_retries_after_eintr(loop: asyncio.AbstractEventLoop) -> None:
    with socket.socket() as listener, socket.socket() as client:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        client.connect(listener.getsockname())
        flaky: Any = _BlocksOnce(listener, "accept", InterruptedError)
        conn, _ = run(loop, loop.sock_accept(flaky))
        conn.close()
        assert flaky.calls == 2
        assert_no_watches(loop, listener)


class _InterruptedConnect:
    """connect() interrupted by a signal: the kernel goes on connecting in the background
    and the call reports EINTR instead of EINPROGRESS."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.interrupted = False

    def connect(self, address: Any) -> None:
        try:
            self._sock.connect(address)
        except BlockingIOError:
            self.interrupted = True
            raise InterruptedError(4, "Interrupted system call") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def test_connect_interrupted_by_a_signal_completes(loop: asyncio.AbstractEventLoop) -> None:
    with socket.socket() as listener, socket.socket() as client:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client.setblocking(False)
        wrapped: Any = _InterruptedConnect(client)
        run(loop, loop.sock_connect(wrapped, listener.getsockname()))
        assert wrapped.interrupted
        assert client.getpeername() == listener.getsockname()
        assert_no_watches(loop, client)


def test_signals_during_a_long_transfer(loop: asyncio.AbstractEventLoop, tcp_pair: Any) -> None:
    """A signal every millisecond interrupts waits and system calls (EINTR); the
    transfer still completes intact."""
    if not hasattr(signal, "setitimer"):
        pytest.skip("needs signal.setitimer")
    client, server = tcp_pair
    data = pattern(4_000_000)
    hits: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda *_: hits.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:

        async def main() -> bytes:
            reader = asyncio.ensure_future(recv_exactly(loop, server, len(data)))
            await loop.sock_sendall(client, data)
            return await reader

        got = run(loop, main())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert got == data
    assert hits


# -- sendfile -------------------------------------------------------------------------------


@pytest.fixture
def data_file() -> Iterator[tuple[Any, bytes]]:
    data = os.urandom(1_500_000)
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        f.seek(0)
        yield f, data


@pytest.mark.parametrize(
    ("offset", "count"),
    [(0, None), (1000, 300_000), (1_000_000, None), (5, 1), (1_499_999, 10)],
)
def test_sock_sendfile(
    loop: asyncio.AbstractEventLoop, tcp_pair: Any, data_file: Any, offset: int, count: int | None
) -> None:
    client, server = tcp_pair
    f, data = data_file
    expected = data[offset : None if count is None else offset + count]

    async def main() -> tuple[int, bytes]:
        reader = asyncio.ensure_future(recv_exactly(loop, server, len(expected)))
        # fallback=False: this must be the zero-copy path, not reads and sends.
        sent = await loop.sock_sendfile(client, f, offset, count, fallback=False)
        return sent, await reader

    sent, got = run(loop, main())
    assert sent == len(expected)
    assert got == expected
    assert f.tell() == offset + sent  # the file position follows the bytes sent
    assert_no_watches(loop, client)


def test_sock_sendfile_past_the_end_sends_nothing(
    loop: asyncio.AbstractEventLoop, tcp_pair: Any, data_file: Any
) -> None:
    client, _ = tcp_pair
    f, data = data_file
    assert run(loop, loop.sock_sendfile(client, f, len(data) + 10, fallback=False)) == 0
    assert f.tell() == 0  # nothing sent: the position is left alone


def test_sock_sendfile_of_an_empty_file(loop: asyncio.AbstractEventLoop, tcp_pair: Any) -> None:
    client, _ = tcp_pair
    with tempfile.TemporaryFile() as f:
        assert run(loop, loop.sock_sendfile(client, f, fallback=False)) == 0


def test_sock_sendfile_without_a_fileno(loop: asyncio.AbstractEventLoop, tcp_pair: Any) -> None:
    client, server = tcp_pair
    f = io.BytesIO(b"in memory")
    with pytest.raises(asyncio.SendfileNotAvailableError):
        run(loop, loop.sock_sendfile(client, f, fallback=False))
    # With the fallback allowed the loop reads and sends instead.
    assert run(loop, loop.sock_sendfile(client, f)) == 9
    assert run(loop, recv_exactly(loop, server, 9)) == b"in memory"


def test_cancelled_sock_sendfile_leaves_the_position_after_the_last_byte_sent(
    request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop, tcp_pair: Any
) -> None:
    """loop.sock_sendfile documents that the file position is always updated, so that
    file.tell() tells how much was sent: also when the call is cancelled."""
    if not is_ours(loop):
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="asyncio updates the position from its write callback, which the "
                "cancellation removes: a cancelled sock_sendfile leaves it unchanged",
            )
        )
    client, server = tcp_pair
    data = os.urandom(12_000_000)
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)

        async def main() -> None:
            task = asyncio.ensure_future(loop.sock_sendfile(client, f, 100, fallback=False))
            await asyncio.sleep(0.05)
            assert not task.done()  # nobody reads: blocked on a full socket buffer
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        run(loop, main())
        assert_no_watches(loop, client)
        position = f.tell()
        assert 100 < position < len(data)
        client.shutdown(socket.SHUT_WR)
        got = bytearray()
        while chunk := run(loop, loop.sock_recv(server, 1 << 16)):
            got += chunk
        assert bytes(got) == data[100:position]


# -- many descriptors -----------------------------------------------------------------------


@pytest.fixture
def many_socketpairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    if sys.platform == "win32":
        pytest.skip("POSIX fd numbering")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2400
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    pairs = [socket.socketpair() for _ in range(600)]
    try:
        for a, b in pairs:
            a.setblocking(False)
            b.setblocking(False)
        yield pairs
    finally:
        for a, b in pairs:
            a.close()
            b.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_fds_beyond_1024(
    loop: asyncio.AbstractEventLoop, many_socketpairs: Any, request: pytest.FixtureRequest
) -> None:
    """Hundreds of waiting sock_recv calls, some on fds numbered above 1024: fine for epoll
    and poll; select cannot represent such fds (FD_SETSIZE) and must say so with
    ValueError rather than hang or misreport."""
    pairs = many_socketpairs
    assert pairs[-1][1].fileno() > 1024
    uses_select = request.node.callspec.id.split("-")[1].startswith("select")

    async def main() -> list[bytes]:
        tasks = [asyncio.ensure_future(loop.sock_recv(b, 10)) for _, b in pairs]
        await asyncio.sleep(0.01)
        for i, (a, _) in enumerate(pairs):
            a.send(b"%d" % i)
        return await asyncio.gather(*tasks)

    if uses_select:
        with pytest.raises(ValueError):
            loop.run_until_complete(main())
        # asyncio's loop is left with the unusable fds registered: do not run it again.
        loop.close()
        return
    assert run(loop, main()) == [b"%d" % i for i in range(len(pairs))]
    assert_no_watches(loop, *(b for _, b in pairs))


# -- layerloop only: the backend's own contract ---------------------------------------------


def test_sendfile_native_refuses_what_is_not_a_regular_file(
    our_loop: EventLoop, tcp_pair: Any
) -> None:
    if sys.platform == "win32":
        pytest.skip("POSIX pipes")
    loop = our_loop
    client, _ = tcp_pair
    backend: Any = loop.backend
    r, w = os.pipe()
    with (
        open(r, "rb") as pipe,
        open(w, "wb"),
        pytest.raises(asyncio.SendfileNotAvailableError, match="not a regular file"),
    ):
        run(loop, backend.sock_sendfile_native(client, pipe, 0, None))
    with pytest.raises(asyncio.SendfileNotAvailableError, match="not a regular file"):
        run(loop, backend.sock_sendfile_native(client, io.BytesIO(b"x"), 0, None))
    assert_no_watches(loop, client)


def test_sendfile_native_falls_back_when_the_first_call_fails(
    our_loop: EventLoop, tcp_pair: Any, data_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = our_loop
    client, server = tcp_pair
    f, data = data_file

    def refuse(*args: Any) -> int:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "sendfile", refuse)
    with pytest.raises(asyncio.SendfileNotAvailableError, match=r"os\.sendfile call failed"):
        run(loop, loop.sock_sendfile(client, f, 0, 10, fallback=False))
    assert f.tell() == 0
    # The loop's fallback then sends the same bytes.
    assert run(loop, loop.sock_sendfile(client, f, 0, 10)) == 10
    assert run(loop, recv_exactly(loop, server, 10)) == data[:10]
