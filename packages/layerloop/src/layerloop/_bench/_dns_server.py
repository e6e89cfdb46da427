"""The DNS server of the name-resolution benchmarks: ``python _dns_server.py HOST PORT``.

Run as a script in a process of its own (it imports nothing from layerloop), so that the
loop under test shares no interpreter with it.  Every loop's lookups meet the same server.

It answers every ``A`` question with one record, ``192.0.2.1``, with a TTL of 0 (so no
caching resolver may keep it), every other question with an empty NOERROR answer (for
``AAAA``: the name exists without IPv6 addresses), one datagram at a time on a blocking
UDP socket.  It writes ``ready`` to stdout once bound and serves until killed or until
its stdin reaches end of file (its parent died without killing it).  The
benchmarks also ask a distinct name per lookup, so no cache could help even without
the TTL.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading

#: The address every A question is answered with (TEST-NET-1, RFC 5737).
ANSWER = "192.0.2.1"
_TYPE_A = 1
_CLASS_IN = 1
# Header flags: QR (a response), AA (authoritative), RA (recursion available), NOERROR;
# the question's RD bit is copied in.
_RESPONSE_FLAGS = 0x8480
_RD = 0x0100
# The answer record: a compression pointer to the question's name (offset 12), type A,
# class IN, TTL 0, four bytes of address.
_A_RECORD = b"\xc0\x0c" + struct.pack("!HHIH", _TYPE_A, _CLASS_IN, 0, 4) + socket.inet_aton(ANSWER)


def _reply(query: bytes) -> bytes | None:
    """The response to *query*, or ``None`` for a datagram that is not one question."""
    if len(query) < 17:
        return None
    flags, questions = struct.unpack_from("!HH", query, 2)
    if flags & 0x8000 or questions != 1:
        return None
    end = 12
    size = len(query)
    while end < size and query[end]:
        end += query[end] + 1
    end += 5  # the root label, then type and class
    if end > size:
        return None
    qtype = query[end - 4] << 8 | query[end - 3]
    answers = 1 if qtype == _TYPE_A else 0
    header = query[:2] + struct.pack("!HHHHH", _RESPONSE_FLAGS | (flags & _RD), 1, answers, 0, 0)
    reply = header + query[12:end]
    return reply + _A_RECORD if answers else reply


def _exit_at_end_of_stdin() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


def serve(host: str, port: int) -> None:
    threading.Thread(target=_exit_at_end_of_stdin, daemon=True).start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((host, port))
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        receive, send = sock.recvfrom, sock.sendto
        while True:
            query, peer = receive(4096)
            reply = _reply(query)
            if reply is not None:
                send(reply, peer)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
