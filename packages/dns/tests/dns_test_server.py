"""A DNS server for tests: a fixed zone under ``.test``, served over UDP on loopback.

It runs in a thread with a blocking socket (nothing of the loop under test), and logs
every question it receives, so tests can tell how many queries a lookup sent.

Zone (every other name under ``.test`` is NXDOMAIN):

==================  ==========================================================
``a.test``          A 192.0.2.1
``multi.test``      A 192.0.2.3, 192.0.2.1, 192.0.2.2
``dual.test``       A 192.0.2.10, AAAA 2001:db8::10
``v6.test``         AAAA 2001:db8::6
``alias.test``      CNAME a.test (the answer carries the A records of a.test too)
``chain.test``      CNAME alias.test
``mx.test``         MX only: NOERROR with no address records (NODATA)
``fail.test``       SERVFAIL
``silent.test``     never answered
``nN.test``         A 198.51.100.N for N in 0..255 (for many distinct names)
==================  ==========================================================
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ZONE: dict[str, dict[str, list[str]]] = {
    "a.test.": {"A": ["192.0.2.1"]},
    "multi.test.": {"A": ["192.0.2.3", "192.0.2.1", "192.0.2.2"]},
    "dual.test.": {"A": ["192.0.2.10"], "AAAA": ["2001:db8::10"]},
    "v6.test.": {"AAAA": ["2001:db8::6"]},
    "alias.test.": {"CNAME": ["a.test."]},
    "chain.test.": {"CNAME": ["alias.test."]},
    "mx.test.": {"MX": ["10 mail.mx.test."]},
}
ZONE.update({f"n{n}.test.": {"A": [f"198.51.100.{n}"]} for n in range(256)})
SERVFAIL = frozenset({"fail.test."})
SILENT = frozenset({"silent.test."})


class DNSTestServer:
    """``with DNSTestServer() as server: server.address`` is ``"127.0.0.1:port"``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()
        self.questions: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="dns-test-server", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def count(self, name: str) -> int:
        """How many questions for *name* (any type) arrived so far."""
        wanted = name.lower().rstrip(".") + "."
        with self._lock:
            return sum(1 for qname, _ in self.questions if qname == wanted)

    def __enter__(self) -> DNSTestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        # A datagram of one byte wakes the server, which then sees it must stop.
        self._stopping = True
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as poke:
            poke.sendto(b"\0", (self.host, self.port))
        self._thread.join(5)
        self.sock.close()

    _stopping = False

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if self._stopping:
                return
            try:
                query = dns.message.from_wire(wire)
            except Exception:
                continue
            reply = self._answer(query)
            if reply is not None:
                # Records in zone order: dnspython would shuffle them, glibc and c-ares would not.
                self.sock.sendto(reply.to_wire(want_shuffle=False), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message | None:
        question = query.question[0]
        qname = question.name.to_text().lower()
        qtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.questions.append((qname, qtype))
        if qname in SILENT:
            return None
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.RA
        if qname in SERVFAIL:
            reply.set_rcode(dns.rcode.SERVFAIL)
            return reply
        if qname not in ZONE:
            reply.set_rcode(dns.rcode.NXDOMAIN)
            return reply
        for owner, rtype, values in _records(qname, qtype):
            reply.answer.append(
                dns.rrset.from_text_list(owner, 300, dns.rdataclass.IN, rtype, values)
            )
        return reply


def _records(qname: str, qtype: str) -> Iterator[tuple[str, str, list[str]]]:
    """The answer section for (qname, qtype): the CNAME chain, then the records."""
    for _ in range(8):
        records = ZONE.get(qname, {})
        if "CNAME" in records and qtype != "CNAME":
            yield qname, "CNAME", records["CNAME"]
            qname = records["CNAME"][0]
            continue
        if qtype in records:
            yield qname, qtype, records[qtype]
        return
