"""The load generator of the I/O benchmarks: one client program for every loop under test.

``python .../_client.py KIND ADDRESS CONNECTIONS SIZE MESSAGES`` opens CONNECTIONS
connections (KIND ``tcp``, ``tls``, ``unix`` or ``udp``; ADDRESS ``host:port`` or a Unix
path), then each connection, in lock step, sends a SIZE-byte message and waits until the
whole echo is back, until MESSAGES messages (shared among the connections) have made the
round trip.  It prints ``{"ops": ..., "elapsed": ..., "bytes": ...}`` as JSON; the clock
covers only the round trips, not the start of this process or the connects.

It runs in a process of its own and uses only the standard library (sockets made
non-blocking, one thread, :mod:`selectors`), so the client costs the same whatever loop
serves it, and the server's loop owns a core of its own where the machine has two.  It
is run as a script by path: it imports nothing from layerloop.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import sys
import time

#: A datagram without its echo for this long is counted lost and sent again.
UDP_RESEND_AFTER = 0.5


class Connection:
    """One connection's lock-step state: the unsent rest of the message, the echo bytes
    still due, and whether a write is pending (the socket is then watched for writing)."""

    __slots__ = ("due", "sock", "unsent", "writing")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.unsent = memoryview(b"")
        self.due = 0
        self.writing = False


def _connect(kind: str, address: str, count: int) -> list[socket.socket]:
    socks = []
    if kind == "unix":
        unix_family = getattr(socket, "AF_UNIX", None)  # absent on Windows
        if unix_family is None:
            raise SystemExit("no Unix sockets here")
        for _ in range(count):
            sock = socket.socket(unix_family, socket.SOCK_STREAM)
            sock.connect(address)
            socks.append(sock)
        return socks
    host, _, port_text = address.rpartition(":")
    target = (host, int(port_text))
    if kind == "udp":
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.connect(target)
            socks.append(sock)
        return socks
    context = None
    if kind == "tls":
        import ssl  # noqa: PLC0415  (only the TLS client pays for it)

        # The server's certificate is made for the run: nothing to verify it against.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    for _ in range(count):
        sock = socket.create_connection(target)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            sock = context.wrap_socket(sock)  # the handshake, blocking, before the clock
        socks.append(sock)
    return socks


def _stream_echo(socks: list[socket.socket], size: int, messages: int, tls: bool) -> int:
    """Run the round trips over stream sockets; returns the round trips done."""
    import ssl  # noqa: PLC0415  (its exception types; already loaded by socket users)

    want = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError)
    message = b"m" * size
    selector = selectors.DefaultSelector()
    sink = bytearray(max(size, 65536))
    left = messages
    done = 0
    active = 0

    def start(conn: Connection) -> None:
        nonlocal left
        left -= 1
        conn.due = size
        conn.unsent = memoryview(message)
        try:
            sent = conn.sock.send(conn.unsent)
        except want:
            sent = 0
        conn.unsent = conn.unsent[sent:]
        if conn.unsent and not conn.writing:
            conn.writing = True
            selector.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    conns = [Connection(sock) for sock in socks]
    for conn in conns:
        conn.sock.setblocking(False)
        selector.register(conn.sock, selectors.EVENT_READ, conn)
    for conn in conns:
        if left > 0:
            start(conn)
            active += 1
    while active:
        for key, events in selector.select():
            conn = key.data
            sock = conn.sock
            if events & selectors.EVENT_WRITE and conn.unsent:
                with contextlib.suppress(*want):
                    conn.unsent = conn.unsent[sock.send(conn.unsent) :]
                if not conn.unsent:
                    conn.writing = False
                    selector.modify(sock, selectors.EVENT_READ, conn)
            if not events & selectors.EVENT_READ:
                continue
            while True:
                # A TLS socket may hold decrypted bytes the kernel does not report: read
                # until it says "want read"; a plain socket is read once per event.
                try:
                    got = sock.recv_into(sink)
                except want:
                    break
                if got == 0:
                    raise ConnectionError("the server closed a connection mid-benchmark")
                conn.due -= got
                if conn.due < 0:
                    raise ConnectionError("the server echoed more than it was sent")
                if not tls or conn.due == 0:
                    break
            if conn.due == 0 and not conn.unsent:
                done += 1
                if left > 0:
                    start(conn)
                else:
                    active -= 1
    selector.close()
    return done


def _udp_echo(socks: list[socket.socket], size: int, messages: int) -> tuple[int, int]:
    """Datagram round trips; returns (round trips done, datagrams sent again)."""
    message = b"d" * size
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, sock)
    left = messages
    active = 0
    done = 0
    resent = 0
    for sock in socks:
        if left > 0:
            left -= 1
            active += 1
            sock.send(message)
    while active:
        ready = selector.select(UDP_RESEND_AFTER)
        if not ready:
            # Loopback drops a datagram only when a receive buffer is full: send again.
            for key in selector.get_map().values():
                key.data.send(message)
                resent += 1
            continue
        for key, _ in ready:
            sock = key.data
            try:
                if len(sock.recv(65536)) != size:
                    raise ConnectionError("a datagram came back with a different size")
            except BlockingIOError:
                continue
            done += 1
            if left > 0:
                left -= 1
                sock.send(message)
            else:
                active -= 1
                selector.unregister(sock)
    selector.close()
    return done, resent


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print("usage: _client.py KIND ADDRESS CONNECTIONS SIZE MESSAGES", file=sys.stderr)
        return 2
    kind, address, count_text, size_text, messages_text = argv
    count, size, messages = int(count_text), int(size_text), int(messages_text)
    socks = _connect(kind, address, count)
    resent = 0
    started = time.perf_counter()
    if kind == "udp":
        done, resent = _udp_echo(socks, size, messages)
    else:
        done = _stream_echo(socks, size, messages, kind == "tls")
    elapsed = time.perf_counter() - started
    for sock in socks:
        sock.close()
    print(json.dumps({"ops": done, "elapsed": elapsed, "bytes": done * size, "resent": resent}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
