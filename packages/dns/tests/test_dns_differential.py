"""ThreadedResolver.getaddrinfo against socket.getaddrinfo, over tens of thousands of queries.

Every query is asked of both, and the outcomes must be identical: the same list (compared
by ``repr``, so an ``int`` where the stdlib gives an ``AddressFamily`` member, or a
``bool`` where it gives an ``int``, is a mismatch) or the same exception type with the
same args (for ``gaierror``, the same errno and message).

No query touches the network.  A query is only ever made without ``AI_NUMERICHOST`` when
the same query *with* it succeeds: then the host is an address literal, which the C
library parses before it consults any name service, and the query without the flag takes
the same path.  Otherwise ``AI_NUMERICHOST`` is added (see :func:`offline_flags`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from layerloop_dns import ThreadedResolver, _threaded

AF_INET, AF_INET6, AF_UNIX = socket.AF_INET, socket.AF_INET6, socket.AF_UNIX
STREAM, DGRAM, RAW = socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW
TCP, UDP = socket.IPPROTO_TCP, socket.IPPROTO_UDP
PASSIVE, CANON = socket.AI_PASSIVE, socket.AI_CANONNAME
NUMHOST, NUMSERV = socket.AI_NUMERICHOST, socket.AI_NUMERICSERV

#: Interface names and indexes of this machine, for zone suffixes.
INTERFACES: list[tuple[int, str]] = socket.if_nameindex()

# Any: the odd queries pass floats, huge ints and objects where socket wants ints.
Query = tuple[Any, Any, Any, Any, Any, Any]


def outcome(fn: Any, *args: Any) -> tuple[str, str]:
    try:
        answer = fn(*args)
    except Exception as exc:
        return (type(exc).__name__, repr(exc.args))
    return ("ok", f"{type(answer).__name__}:{answer!r}")


def offline_flags(query: Query) -> Query:
    """*query*, with AI_NUMERICHOST added unless the host is a literal for it."""
    host, port, family, type_, proto, flags = query
    if host is None or not isinstance(flags, int) or flags & NUMHOST:
        return query  # no lookup (or a TypeError before any)
    try:
        socket.getaddrinfo(host, port, family, type_, proto, flags | NUMHOST)
    except (OSError, TypeError, ValueError, OverflowError):
        return (host, port, family, type_, proto, flags | NUMHOST)
    return query


class Differential:
    """A resolver on a stdlib loop (all it needs is run_in_executor and get_debug)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.resolver = ThreadedResolver()
        self.resolver.attach(self.loop)

    def close(self) -> None:
        self.resolver.close()
        self.loop.close()

    def mismatches(self, queries: Sequence[Query]) -> list[str]:
        queries = [offline_flags(q) for q in queries]

        async def ours() -> list[tuple[str, str]]:
            # One task for the whole table keeps the loop's own overhead out of the way.
            answers = []
            resolve = self.resolver.getaddrinfo
            for host, port, family, type_, proto, flags in queries:
                try:
                    answer = await resolve(
                        host, port, family=family, type=type_, proto=proto, flags=flags
                    )
                except Exception as exc:
                    answers.append((type(exc).__name__, repr(exc.args)))
                else:
                    answers.append(("ok", f"{type(answer).__name__}:{answer!r}"))
            return answers

        got = self.loop.run_until_complete(ours())
        bad = []
        for query, answer in zip(queries, got, strict=True):
            expected = outcome(socket.getaddrinfo, *query)
            if answer != expected:
                bad.append(f"{query!r}:\n  socket:   {expected}\n  resolver: {answer}")
        return bad


@pytest.fixture
def diff() -> Iterator[Differential]:
    d = Differential()
    try:
        yield d
    finally:
        d.close()


def with_bytes(hosts: list[str]) -> list[str | bytes]:
    return [form for host in hosts for form in (host, host.encode())]


# -- the table ---------------------------------------------------------------------------

# Literals the fast path builds answers for (inet_pton accepts them) and their odd forms.
V4_LITERALS = ["127.0.0.1", "0.0.0.0", "255.255.255.255", "192.0.2.7", "10.20.30.40"]
V6_LITERALS = [
    "::1",
    "::",
    "2001:db8::1",
    "2001:DB8:0:0::A",  # upper case and a non-canonical form: inet_ntop's spelling comes back
    "2001:0db8:0000:0000:0000:0000:0000:0001",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::ffff:255.255.255.255",
    "64:ff9b::192.0.2.1",
    "1::",
    "fe80::1",
    "ff02::1",
]
# Zones: interface names (tried for link-local unicast and link/node-local multicast
# addresses only), decimal numbers up to 2**32-1 (any address), and what fails.
ZONED = (
    [
        "fe80::1%1",
        "fe80::1%0",
        "fe80::1%00001",
        "fe80::1%4294967295",
        "ff02::1%2",
        "ff01::1%1",
        "ff05::1%1",
        "2001:db8::1%1",
        "::1%3",
        "fe80::1%4294967296",
        "fe80::1%",
        "fe80::1%1%1",
        "fe80::1%no-such-if0",
        "2001:db8::1%lo",
        "ff05::1%lo",
        "fe80::1%" + "0" * 60 + "7",  # numeric, but a 64+ character IDNA label for str
    ]
    + [f"fe80::1%{name}" for _, name in INTERFACES]
    + [f"ff02::2%{name}" for _, name in INTERFACES]
)
# inet_aton forms glibc accepts and inet_pton does not: answered by the inline call.
ATON_FORMS = ["127.1", "0x7f.1", "1", "0", "010.0.0.1", "127.0.0.01", "0x7f000001", "127.0.1"]
NOT_LITERALS = [
    "",
    "1.2.3.4.5",
    "256.1.1.1",
    "[::1]",
    " 127.0.0.1",
    "127.0.0.1 ",
    "127.0.0.1%1",
    "::1::",
    "1:2:3:4:5:6:7:8:9",
    "\u0661\u0662\u0667.0.0.1",
    "example.invalid",
    "127.0.0.1\x00",
    "127.0.0.1\x00trailer",
]

FAST_HOSTS: list[Any] = [*with_bytes(V4_LITERALS + V6_LITERALS + ZONED[:8]), None]
ALL_HOSTS: list[Any] = [
    *with_bytes(V4_LITERALS + V6_LITERALS + ZONED + ATON_FORMS + NOT_LITERALS),
    None,
    bytes([0x31, 0xFF]),
    "\udcff",
    bytearray(b"127.0.0.1"),
    1234,
]

FAST_PORTS: list[Any] = [None, 0, 80, 65535, "443", b"8080", "0080"]
ALL_PORTS: list[Any] = [
    *FAST_PORTS,
    "65535",
    "0",
    "00000000080",
    65536,
    70000,
    -1,
    2**70,
    "65536",
    "99999999999999999999999",
    "",
    b"",
    "*",
    " 80",
    "+80",
    "80 ",
    "http",
    b"domain",
    "no-such-service",
    "\u0668\u0660",
    "\u00b2",
    True,
    80.0,
    object(),
]

FAMILIES = [0, AF_INET, AF_INET6]
ALL_FAMILIES = [*FAMILIES, AF_UNIX, 99, -1, 2**40]
TYPES = [0, int(STREAM), int(DGRAM), int(RAW)]
ALL_TYPES = [*TYPES, int(socket.SOCK_SEQPACKET), 99, -1, STREAM, 1.0]
PROTOS = [0, TCP, UDP]
ALL_PROTOS = [*PROTOS, socket.IPPROTO_SCTP, 255, -1, 2**40]
FLAGS = [0, PASSIVE, CANON, NUMHOST, NUMSERV, PASSIVE | CANON | NUMHOST | NUMSERV]
ALL_FLAGS = [
    *FLAGS,
    CANON | NUMSERV,
    socket.AI_ADDRCONFIG,
    socket.AI_V4MAPPED,
    socket.AI_V4MAPPED | socket.AI_ALL,
    socket.AI_V4MAPPED | CANON,
    0x8000,
    -1,
    2.0,
    socket.AI_PASSIVE | socket.AI_ADDRCONFIG,
]


def test_synthesis_is_on_with_glibc() -> None:
    # Otherwise the tables below only test the inline call, not the synthesised answers.
    libc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    if not (libc or "").startswith("glibc"):
        pytest.skip(f"not glibc ({libc!r}): the inline call answers numeric queries")
    assert _threaded._SYNTHESIS


@pytest.mark.parametrize("host", FAST_HOSTS, ids=repr)
def test_every_supported_combination(diff: Differential, host: Any) -> None:
    """Each literal with every numeric port, family, type, protocol and flag set."""
    queries: list[Query] = [
        (host, *rest) for rest in itertools.product(FAST_PORTS, FAMILIES, TYPES, PROTOS, FLAGS)
    ]
    assert len(queries) == 7 * 3 * 4 * 3 * 6
    bad = diff.mismatches(queries)
    assert not bad, f"{len(bad)}/{len(queries)} mismatches:\n" + "\n".join(bad[:10])


SAMPLE = 30_000


def sampled_queries(seed: int, count: int) -> list[Query]:
    """*count* queries drawn from the whole space, odd arguments included."""
    rng = random.Random(seed)
    pick = rng.choice
    return [
        (
            pick(ALL_HOSTS),
            pick(ALL_PORTS),
            pick(ALL_FAMILIES) if rng.random() < 0.2 else pick(FAMILIES),
            pick(ALL_TYPES) if rng.random() < 0.2 else pick(TYPES),
            pick(ALL_PROTOS) if rng.random() < 0.2 else pick(PROTOS),
            pick(ALL_FLAGS),
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", range(3))
def test_sampled_odd_arguments(diff: Differential, seed: int) -> None:
    """Samples from every host, port, family, type, protocol and flag set, odd ones too."""
    queries = sampled_queries(seed, SAMPLE // 3)
    bad = diff.mismatches(queries)
    assert not bad, f"{len(bad)}/{len(queries)} mismatches:\n" + "\n".join(bad[:10])


def test_without_synthesis(diff: Differential, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path other C libraries take (the inline call) is exact as well."""
    monkeypatch.setattr(_threaded, "_SYNTHESIS", False)
    queries = sampled_queries(99, 5000)
    bad = diff.mismatches(queries)
    assert not bad, f"{len(bad)}/{len(queries)} mismatches:\n" + "\n".join(bad[:10])


def test_int_enum_arguments(diff: Differential) -> None:
    queries: list[Query] = [
        (host, 80, family, type_, proto, flags)
        for host in ("127.0.0.1", "::1", None)
        for family in (socket.AF_UNSPEC, AF_INET, AF_INET6)
        for type_ in (STREAM, DGRAM, RAW, 0)
        for proto in (TCP, UDP, socket.IPPROTO_IP)
        for flags in (socket.AddressInfo(0), PASSIVE, CANON | NUMSERV)
    ]
    bad = diff.mismatches(queries)
    assert not bad, "\n".join(bad[:10])


# -- randomized (hypothesis) -------------------------------------------------------------


def test_randomized_against_socket() -> None:
    """Random literals in every spelling, with zones, odd ports and flag sets."""
    hypothesis = pytest.importorskip(
        "hypothesis", reason="hypothesis (layerloop-dns's test dependency group) is not installed"
    )
    st = hypothesis.strategies

    def ipv4_text(value: int, style: str) -> str:
        parts = value.to_bytes(4, "big")
        if style == "aton":  # a.b.c with a 16-bit tail, as inet_aton reads it
            return f"{parts[0]}.{parts[1]}.{parts[2] << 8 | parts[3]}"
        if style == "zero":
            return ".".join(f"{p:03d}" for p in parts)
        if style == "hex":
            return f"0x{value:x}"
        return ".".join(str(p) for p in parts)

    def ipv6_text(prefix: bytes, rest: bytes, style: str, zone: str) -> str:
        packed = (prefix + rest)[:16]
        text = socket.inet_ntop(AF_INET6, packed)
        if style == "upper":
            text = text.upper()
        elif style == "full":
            text = ":".join(packed[i : i + 2].hex() for i in range(0, 16, 2))
        return f"{text}%{zone}" if zone else text

    v4 = st.builds(
        ipv4_text,
        st.integers(0, 2**32 - 1),
        st.sampled_from(["quad"] * 3 + ["aton", "zero", "hex"]),
    )
    v6 = st.builds(
        ipv6_text,
        st.sampled_from([b"", b"\xfe\x80", b"\xff\x02", b"\xff\x01", bytes(10) + b"\xff\xff"]),
        st.binary(min_size=16, max_size=16),
        st.sampled_from(["ntop", "ntop", "upper", "full"]),
        st.one_of(
            st.just(""),
            st.sampled_from([name for _, name in INTERFACES]),
            st.integers(0, 2**32 + 5).map(str),
            st.sampled_from(["", "x", "01", "1%1"]),
        ),
    )
    hosts = st.one_of(st.none(), v4, v6, v4.map(str.encode), v6.map(str.encode))
    ports = st.one_of(
        st.none(),
        st.integers(-2, 70_000),
        st.integers(0, 65_535).map(str),
        st.integers(0, 99_999).map(lambda n: str(n).encode()),
        st.integers(0, 65_535).map(lambda n: f"{n:06d}"),
    )
    flag_sets = st.sets(
        st.sampled_from(
            [PASSIVE, CANON, NUMHOST, NUMSERV, socket.AI_ADDRCONFIG, socket.AI_V4MAPPED]
        ),
        max_size=3,
    ).map(lambda flags: int(sum(flags)))
    queries = st.tuples(
        hosts,
        ports,
        st.sampled_from(FAMILIES),
        st.sampled_from([*TYPES, int(socket.SOCK_SEQPACKET)]),
        st.sampled_from([*PROTOS, socket.IPPROTO_SCTP]),
        flag_sets,
    )
    d = Differential()

    # Batches of queries per example: one loop run answers many, and a failure still
    # shrinks to the one query that differs.
    @hypothesis.settings(  # type: ignore[untyped-decorator]  # importorskip's module is Any
        max_examples=400,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(st.lists(queries, min_size=1, max_size=40))  # type: ignore[untyped-decorator]
    def check(batch: list[Query]) -> None:
        bad = d.mismatches(batch)
        assert not bad, bad[0]

    try:
        check()
    finally:
        d.close()
