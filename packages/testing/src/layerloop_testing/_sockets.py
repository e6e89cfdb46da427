"""Socket operation conformance: ``loop.sock_*`` including datagrams and sendfile."""

from __future__ import annotations

import asyncio
import io
import socket
import tempfile
from collections.abc import Awaitable, Callable
from typing import IO

from ._base import LoopSuite

__all__ = ["SocketSuite"]

_PAYLOAD = bytes(range(256)) * 4096  # 1 MiB: more than any socket buffer takes at once


class SocketSuite(LoopSuite):
    """``sock_recv``/``sock_recv_into``/``sock_sendall``/``sock_connect``/``sock_accept``,
    ``sock_recvfrom``/``sock_recvfrom_into``/``sock_sendto`` and ``sock_sendfile``.

    Data arrives complete and in order, accepted sockets are non-blocking, debug mode
    rejects blocking sockets with ``ValueError`` as CPython does, a cancelled receive
    or accept loses nothing, and ``sock_sendfile`` validates its arguments, sends the
    requested range, leaves the file position after the last byte sent and falls
    back (or raises ``SendfileNotAvailableError``) for files it cannot send natively.
    """

    def tcp_pair(self) -> tuple[socket.socket, socket.socket]:
        """A connected TCP pair over loopback, made with ``sock_accept``/``sock_connect``."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(client.close)
        client.setblocking(False)

        async def connect() -> socket.socket:
            accepted = self.loop.create_task(self.loop.sock_accept(listener))
            await self.loop.sock_connect(client, listener.getsockname())
            conn, addr = await accepted
            self.assertEqual(addr, client.getsockname())
            return conn

        conn = self.run_coro(connect())
        self.addCleanup(conn.close)
        return client, conn

    async def _recv_exactly(self, sock: socket.socket, size: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            data = await self.loop.sock_recv(sock, min(65536, size - len(chunks)))
            if not data:
                break
            chunks += data
        return bytes(chunks)

    # -- streams -------------------------------------------------------------------------

    def test_sendall_and_recv_move_a_large_payload_intact(self) -> None:
        a, b = self.socketpair()

        async def main() -> bytes:
            sender = self.loop.create_task(self.loop.sock_sendall(a, _PAYLOAD))
            received = await self._recv_exactly(b, len(_PAYLOAD))
            await sender
            self.assertIsNone(sender.result())
            return received

        self.assertEqual(self.run_coro(main()), _PAYLOAD)

    def test_sendall_accepts_bytes_like_objects(self) -> None:
        a, b = self.socketpair()
        self.run_coro(self.loop.sock_sendall(a, bytearray(b"ab")))
        self.run_coro(self.loop.sock_sendall(a, memoryview(b"xcdx")[1:3]))
        self.run_coro(self.loop.sock_sendall(a, b""))
        self.assertEqual(self.run_coro(self._recv_exactly(b, 4)), b"abcd")

    def test_recv_into_fills_the_given_buffer(self) -> None:
        a, b = self.socketpair()
        buf = bytearray(16)

        async def main() -> int:
            await self.loop.sock_sendall(a, b"hello")
            return await self.loop.sock_recv_into(b, memoryview(buf)[2:])

        nbytes = self.run_coro(main())
        self.assertEqual(nbytes, 5)
        self.assertEqual(bytes(buf[:7]), b"\0\0hello")

    def test_recv_returns_empty_bytes_at_end_of_stream(self) -> None:
        a, b = self.socketpair()

        async def main() -> bytes:
            reader = self.loop.create_task(self.loop.sock_recv(b, 10))
            await asyncio.sleep(0.01)
            a.shutdown(socket.SHUT_WR)
            return await reader

        self.assertEqual(self.run_coro(main()), b"")

    def test_accept_and_connect_over_tcp(self) -> None:
        client, conn = self.tcp_pair()
        self.assertEqual(conn.gettimeout(), 0.0, "accepted sockets must be non-blocking")

        async def echo() -> bytes:
            await self.loop.sock_sendall(client, b"over tcp")
            data = await self._recv_exactly(conn, 8)
            await self.loop.sock_sendall(conn, data.upper())
            return await self._recv_exactly(client, 8)

        self.assertEqual(self.run_coro(echo()), b"OVER TCP")

    def test_connect_resolves_host_names(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(client.close)
        client.setblocking(False)
        port = listener.getsockname()[1]
        self.run_coro(self.loop.sock_connect(client, ("localhost", port)))
        self.assertEqual(client.getpeername(), ("127.0.0.1", port))

    def test_connect_to_a_closed_port_is_refused(self) -> None:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()
        probe.close()  # nothing listens there any more
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(client.close)
        client.setblocking(False)
        with self.assertRaises(ConnectionRefusedError):
            self.run_coro(self.loop.sock_connect(client, address))

    def test_debug_mode_rejects_blocking_sockets(self) -> None:
        a, _ = self.socketpair(blocking=True)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        self.loop.set_debug(True)
        self.loop.slow_callback_duration = 60.0
        operations: dict[str, Callable[[], Awaitable[object]]] = {
            "sock_recv": lambda: self.loop.sock_recv(a, 1),
            "sock_recv_into": lambda: self.loop.sock_recv_into(a, bytearray(1)),
            "sock_sendall": lambda: self.loop.sock_sendall(a, b"x"),
            "sock_accept": lambda: self.loop.sock_accept(a),
            "sock_connect": lambda: self.loop.sock_connect(udp, ("127.0.0.1", 9)),
            "sock_recvfrom": lambda: self.loop.sock_recvfrom(udp, 1),
            "sock_recvfrom_into": lambda: self.loop.sock_recvfrom_into(udp, bytearray(1)),
            "sock_sendto": lambda: self.loop.sock_sendto(udp, b"x", ("127.0.0.1", 9)),
        }
        for name, make in operations.items():
            with self.subTest(name), self.assertRaisesRegex(ValueError, "non-blocking"):
                self.run_coro(make())

    def test_cancelled_recv_loses_no_data(self) -> None:
        a, b = self.socketpair()

        async def main() -> bytes:
            pending = self.loop.create_task(self.loop.sock_recv(b, 100))
            await asyncio.sleep(0.01)
            pending.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await pending
            await self.loop.sock_sendall(a, b"after the cancel")
            return await self._recv_exactly(b, 16)

        self.assertEqual(self.run_coro(main()), b"after the cancel")

    def test_cancelled_recv_into_loses_no_data(self) -> None:
        a, b = self.socketpair()
        buf = bytearray(64)

        async def main() -> int:
            pending = self.loop.create_task(self.loop.sock_recv_into(b, buf))
            await asyncio.sleep(0.01)
            pending.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await pending
            await self.loop.sock_sendall(a, b"kept")
            return await self.loop.sock_recv_into(b, buf)

        self.assertEqual(self.run_coro(main()), 4)
        self.assertEqual(bytes(buf[:4]), b"kept")

    def test_cancelled_accept_loses_no_connection(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(2)
        listener.setblocking(False)

        async def main() -> None:
            pending = self.loop.create_task(self.loop.sock_accept(listener))
            await asyncio.sleep(0.01)
            pending.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await pending
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.addCleanup(client.close)
            client.setblocking(False)
            await self.loop.sock_connect(client, listener.getsockname())
            conn, _ = await self.loop.sock_accept(listener)
            conn.close()

        self.run_coro(main())

    def test_concurrent_receivers_on_distinct_sockets(self) -> None:
        pairs = [self.socketpair() for _ in range(10)]

        async def main() -> list[bytes]:
            readers = [self.loop.create_task(self.loop.sock_recv(b, 10)) for _, b in pairs]
            await asyncio.sleep(0)
            for i, (a, _) in enumerate(reversed(pairs)):
                await self.loop.sock_sendall(a, b"%d" % (len(pairs) - 1 - i))
            return await asyncio.gather(*readers)

        self.assertEqual(self.run_coro(main()), [b"%d" % i for i in range(10)])

    # -- datagrams -----------------------------------------------------------------------

    def udp_pair(self) -> tuple[socket.socket, socket.socket]:
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for s in (a, b):
            self.addCleanup(s.close)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        return a, b

    def test_sendto_and_recvfrom(self) -> None:
        a, b = self.udp_pair()

        async def main() -> tuple[bytes, object]:
            receiver = self.loop.create_task(self.loop.sock_recvfrom(b, 100))
            await asyncio.sleep(0)
            sent = await self.loop.sock_sendto(a, b"datagram", b.getsockname())
            self.assertEqual(sent, 8)
            return await receiver

        data, sender = self.run_coro(main())
        self.assertEqual(data, b"datagram")
        self.assertEqual(sender, a.getsockname())

    def test_recvfrom_into_honours_nbytes(self) -> None:
        a, b = self.udp_pair()
        buf = bytearray(32)

        async def main() -> tuple[int, object]:
            await self.loop.sock_sendto(a, b"0123456789", b.getsockname())
            return await self.loop.sock_recvfrom_into(b, buf, 4)

        nbytes, sender = self.run_coro(main())
        self.assertEqual(nbytes, 4)
        self.assertEqual(bytes(buf[:4]), b"0123")
        self.assertEqual(sender, a.getsockname())

    def test_recvfrom_keeps_datagram_boundaries(self) -> None:
        a, b = self.udp_pair()

        async def main() -> list[bytes]:
            for chunk in (b"one", b"two", b"three"):
                await self.loop.sock_sendto(a, chunk, b.getsockname())
            return [(await self.loop.sock_recvfrom(b, 100))[0] for _ in range(3)]

        self.assertEqual(self.run_coro(main()), [b"one", b"two", b"three"])

    def test_cancelled_recvfrom_loses_no_datagram(self) -> None:
        a, b = self.udp_pair()

        async def main() -> bytes:
            pending = self.loop.create_task(self.loop.sock_recvfrom(b, 100))
            await asyncio.sleep(0.01)
            pending.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await pending
            await self.loop.sock_sendto(a, b"still here", b.getsockname())
            return (await self.loop.sock_recvfrom(b, 100))[0]

        self.assertEqual(self.run_coro(main()), b"still here")

    # -- sendfile ------------------------------------------------------------------------

    def data_file(self, data: bytes) -> IO[bytes]:
        f = self.enterContext(tempfile.TemporaryFile())
        f.write(data)
        f.seek(0)
        return f

    def _sendfile_and_collect(
        self,
        file: IO[bytes],
        offset: int = 0,
        count: int | None = None,
        *,
        fallback: bool = True,
    ) -> tuple[int, bytes]:
        a, b = self.socketpair()

        async def main() -> tuple[int, bytes]:
            async def collect() -> bytes:
                chunks = bytearray()
                while data := await self.loop.sock_recv(b, 65536):
                    chunks += data
                return bytes(chunks)

            collector = self.loop.create_task(collect())
            try:
                sent = await self.loop.sock_sendfile(a, file, offset, count, fallback=fallback)
            finally:
                a.shutdown(socket.SHUT_WR)
            return sent, await collector

        return self.run_coro(main())

    def test_sock_sendfile_sends_the_whole_file(self) -> None:
        f = self.data_file(_PAYLOAD)
        sent, received = self._sendfile_and_collect(f)
        self.assertEqual(sent, len(_PAYLOAD))
        self.assertEqual(received, _PAYLOAD)
        self.assertEqual(f.tell(), len(_PAYLOAD))

    def test_sock_sendfile_offset_and_count(self) -> None:
        f = self.data_file(_PAYLOAD)
        sent, received = self._sendfile_and_collect(f, 1000, 5000)
        self.assertEqual(sent, 5000)
        self.assertEqual(received, _PAYLOAD[1000:6000])
        self.assertEqual(f.tell(), 6000)

    def test_sock_sendfile_of_an_empty_file(self) -> None:
        f = self.data_file(b"")
        sent, received = self._sendfile_and_collect(f)
        self.assertEqual((sent, received), (0, b""))
        self.assertEqual(f.tell(), 0)

    def test_sock_sendfile_falls_back_for_files_without_a_descriptor(self) -> None:
        data = b"in memory only" * 1000
        f = io.BytesIO(data)
        sent, received = self._sendfile_and_collect(f, 14)
        self.assertEqual(sent, len(data) - 14)
        self.assertEqual(received, data[14:])
        self.assertEqual(f.tell(), len(data))

    def test_sock_sendfile_without_fallback_raises_not_available(self) -> None:
        f = io.BytesIO(b"in memory only")
        with self.assertRaises(asyncio.SendfileNotAvailableError):
            self._sendfile_and_collect(f, fallback=False)
        self.assertEqual(f.tell(), 0)

    def test_sock_sendfile_validates_arguments(self) -> None:
        a, _ = self.socketpair()
        binary = self.data_file(b"data")
        text = self.enterContext(tempfile.TemporaryFile("w+"))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        udp.setblocking(False)
        cases: list[tuple[str, type[Exception], socket.socket, object, object, object]] = [
            ("text mode file", ValueError, a, text, 0, None),
            ("datagram socket", ValueError, udp, binary, 0, None),
            ("negative offset", ValueError, a, binary, -1, None),
            ("zero count", ValueError, a, binary, 0, 0),
            ("float offset", TypeError, a, binary, 1.5, None),
            ("str count", TypeError, a, binary, 0, "1"),
        ]
        for name, error, sock, file, offset, count in cases:
            with self.subTest(name), self.assertRaises(error):
                self.run_coro(self.loop.sock_sendfile(sock, file, offset, count))  # type: ignore[arg-type]

    def test_sock_sendfile_mixes_with_sendall(self) -> None:
        a, b = self.socketpair()
        f = self.data_file(_PAYLOAD[:200_000])

        async def main() -> bytes:
            async def collect() -> bytes:
                chunks = bytearray()
                while data := await self.loop.sock_recv(b, 65536):
                    chunks += data
                return bytes(chunks)

            collector = self.loop.create_task(collect())
            await self.loop.sock_sendall(a, b"head")
            await self.loop.sock_sendfile(a, f)
            await self.loop.sock_sendall(a, b"tail")
            a.shutdown(socket.SHUT_WR)
            return await collector

        self.assertEqual(self.run_coro(main()), b"head" + _PAYLOAD[:200_000] + b"tail")

    def test_operations_on_a_closed_pair_report_errors(self) -> None:
        a, b = self.socketpair()
        b.close()

        async def main() -> None:
            # The peer is gone: writing enough must fail rather than hang.
            for _ in range(100):
                await self.loop.sock_sendall(a, b"x" * 65536)

        with self.assertRaises(OSError):
            self.run_coro(main())
