"""CaresResolver against a DNS server on loopback (tests/dns_test_server.py).

No test touches the internet: the resolver is pointed at the test server with
``servers=``.  The expected answers are built with :func:`socket.getaddrinfo` on the
addresses the zone holds (numeric queries, which glibc answers without any lookup),
since glibc itself cannot be pointed at a server on another port;
test_dns_cares_netns.py compares with glibc's own DNS lookups, order included.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

pycares = pytest.importorskip("pycares", reason="the c-ares resolver needs the [cares] extra")
pytest.importorskip("dns.message", reason="the test DNS server needs dnspython")

from dns_test_server import DNSTestServer  # noqa: E402
from layerloop_core.abc import AddrInfo, Resolver  # noqa: E402
from layerloop_dns import CaresResolver, ThreadedResolver, _cares  # noqa: E402

T = TypeVar("T")


@pytest.fixture(scope="module")
def server() -> Iterator[DNSTestServer]:
    with DNSTestServer() as running:
        yield running


def run(
    make: Callable[[CaresResolver], Awaitable[T]], resolver: CaresResolver | None = None, **kw: Any
) -> T:
    loop = asyncio.new_event_loop()
    resolver = resolver if resolver is not None else CaresResolver(**kw)
    resolver.attach(loop)
    try:
        return loop.run_until_complete(make(resolver))
    finally:
        resolver.close()
        loop.close()


def expected(
    addresses: list[str], port: Any, family: int = 0, type: int = 0, proto: int = 0
) -> list[Any]:
    answer: list[Any] = []
    for address in addresses:
        answer += socket.getaddrinfo(address, port, family, type, proto, socket.AI_NUMERICHOST)
    return answer


SHAPES = [
    (0, 0, 0),
    (80, 0, 0),
    ("443", socket.SOCK_STREAM, 0),
    (53, socket.SOCK_DGRAM, 0),
    (53, 0, socket.IPPROTO_UDP),
    (None, socket.SOCK_RAW, 0),
]


@pytest.mark.parametrize(("port", "type", "proto"), SHAPES)
@pytest.mark.parametrize(
    ("name", "addresses"),
    [("a.test", ["192.0.2.1"]), ("v6.test", ["2001:db8::6"]), ("alias.test", ["192.0.2.1"])],
)
def test_single_address_answers_are_glibcs(  # noqa: PLR0917 - parametrized
    server: DNSTestServer, name: str, addresses: list[str], port: Any, type: int, proto: int
) -> None:
    got = run(lambda r: r.getaddrinfo(name, port, type=type, proto=proto), servers=[server.address])
    assert got == expected(addresses, port, 0, type, proto)


def test_bytes_host_and_port(server: DNSTestServer) -> None:
    got = run(lambda r: r.getaddrinfo(b"a.test", b"8080"), servers=[server.address])
    assert got == expected(["192.0.2.1"], 8080)


def test_family_selects_records(server: DNSTestServer) -> None:
    async def lookups(r: CaresResolver) -> tuple[list[AddrInfo], ...]:
        return (
            await r.getaddrinfo("dual.test", 80, type=socket.SOCK_STREAM),
            await r.getaddrinfo("dual.test", 80, family=socket.AF_INET, type=socket.SOCK_STREAM),
            await r.getaddrinfo("dual.test", 80, family=socket.AF_INET6, type=socket.SOCK_STREAM),
        )

    both, v4, v6 = run(lookups, servers=[server.address])
    assert v4 == expected(["192.0.2.10"], 80, type=socket.SOCK_STREAM)
    assert v6 == expected(["2001:db8::10"], 80, type=socket.SOCK_STREAM)
    assert sorted(both) == sorted(v4 + v6)


def test_multiple_addresses_are_all_returned(server: DNSTestServer) -> None:
    got = run(
        lambda r: r.getaddrinfo("multi.test", 1, type=socket.SOCK_STREAM), servers=[server.address]
    )
    assert sorted(entry[4][0] for entry in got) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]


def test_canonical_name_is_the_end_of_the_cname_chain(server: DNSTestServer) -> None:
    async def lookups(r: CaresResolver) -> list[list[AddrInfo]]:
        return [
            await r.getaddrinfo(name, 80, flags=socket.AI_CANONNAME)
            for name in ("chain.test", "alias.test", "a.test")
        ]

    for answer in run(lookups, servers=[server.address]):
        assert [entry[3] for entry in answer] == ["a.test", "", ""]
        assert [entry[4] for entry in answer] == [("192.0.2.1", 80)] * 3


@pytest.mark.parametrize(
    ("name", "family", "code"),
    [
        ("nothere.test", 0, socket.EAI_NONAME),
        ("fail.test", 0, socket.EAI_AGAIN),
    ],
)
def test_errors_are_glibcs_gaierrors(
    server: DNSTestServer, name: str, family: int, code: int
) -> None:
    with pytest.raises(socket.gaierror) as caught:
        run(lambda r: r.getaddrinfo(name, 80, family=family), servers=[server.address])
    assert caught.value.errno == code
    assert (
        caught.value.strerror
        == {
            socket.EAI_NONAME: "Name or service not known",
            socket.EAI_AGAIN: "Temporary failure in name resolution",
        }[code]
    )


class FailingFallback(ThreadedResolver):
    """A fallback that records its calls and answers with a recognisable error."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []

    async def getaddrinfo(self, host: Any, port: Any, **kw: Any) -> list[AddrInfo]:  # type: ignore[override]
        self.calls.append((host, port, kw))
        raise socket.gaierror(socket.EAI_NODATA, "from the fallback")


@pytest.mark.parametrize(("name", "family"), [("mx.test", 0), ("v6.test", socket.AF_INET)])
def test_a_name_without_addresses_is_decided_by_the_fallback(
    server: DNSTestServer, name: str, family: int
) -> None:
    # glibc's error code depends on CNAMEs c-ares does not report (see the module doc);
    # test_dns_cares_netns.py checks the codes glibc then gives.
    fallback = FailingFallback()
    resolver = CaresResolver(servers=[server.address], fallback=fallback)
    asked = server.count(name)
    with pytest.raises(socket.gaierror, match="from the fallback"):
        run(lambda r: r.getaddrinfo(name, 80, family=family), resolver)
    assert server.count(name) > asked  # c-ares asked first
    assert fallback.calls == [(name, 80, {"family": family, "type": 0, "proto": 0, "flags": 0})]


def test_no_answer_times_out_as_eai_again(server: DNSTestServer) -> None:
    with pytest.raises(socket.gaierror) as caught:
        run(
            lambda r: r.getaddrinfo("silent.test", 80),
            servers=[server.address],
            timeout=0.1,
            tries=2,
        )
    assert caught.value.errno == socket.EAI_AGAIN


def test_status_codes_match_pycares() -> None:
    ares = pycares.errno

    for name in (
        "ARES_ENODATA",
        "ARES_EFORMERR",
        "ARES_ENOTFOUND",
        "ARES_ENOTIMP",
        "ARES_EBADNAME",
        "ARES_EBADRESP",
        "ARES_ENOMEM",
        "ARES_EDESTRUCTION",
        "ARES_ECANCELLED",
    ):
        assert getattr(_cares, name) == getattr(ares, name), name


def test_cancelling_a_lookup_cancels_the_query(server: DNSTestServer) -> None:
    before = server.count("silent.test")

    async def scenario(r: CaresResolver) -> None:
        task = asyncio.ensure_future(r.getaddrinfo("silent.test", 80, family=socket.AF_INET))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if server.count("silent.test") > before:
                break
        assert server.count("silent.test") == before + 1
        assert r.active_lookups == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert r.active_lookups == 0
        # Not cancelled, c-ares would retransmit after 0.2 s (and again after that).
        await asyncio.sleep(0.8)
        assert server.count("silent.test") == before + 1

    run(scenario, servers=[server.address], timeout=0.2, tries=4)


def test_close_cancels_lookups_in_flight(server: DNSTestServer) -> None:
    loop = asyncio.new_event_loop()
    resolver = CaresResolver(servers=[server.address], timeout=5, tries=1)
    resolver.attach(loop)

    async def scenario() -> None:
        task = asyncio.ensure_future(resolver.getaddrinfo("silent.test", 80))
        await asyncio.sleep(0.05)
        resolver.close()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        loop.run_until_complete(asyncio.wait_for(scenario(), 2))
        assert resolver.active_lookups == 0
    finally:
        loop.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc")
def test_many_concurrent_lookups_leave_nothing_behind(server: DNSTestServer) -> None:
    fds_before = _open_fds()
    loop = asyncio.new_event_loop()
    resolver = CaresResolver(servers=[server.address])
    resolver.attach(loop)

    async def scenario() -> list[list[AddrInfo]]:
        return await asyncio.gather(
            *(resolver.getaddrinfo(f"n{n}.test", 80, type=socket.SOCK_STREAM) for n in range(200))
        )

    try:
        answers = loop.run_until_complete(scenario())
        assert resolver.active_lookups == 0
        assert len(resolver._idle) <= _cares.MAX_IDLE_CHANNELS
    finally:
        resolver.close()
        loop.close()
    assert [answer[0][4] for answer in answers] == [(f"198.51.100.{n}", 80) for n in range(200)]
    assert _open_fds() <= fds_before


class RecordingFallback(ThreadedResolver):
    __slots__ = ("calls",)

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []

    async def getaddrinfo(self, host: Any, port: Any, **kw: Any) -> list[AddrInfo]:  # type: ignore[override]
        self.calls.append((host, port, kw))
        return await super().getaddrinfo(host, port, **kw)

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> tuple[str, str]:
        self.calls.append((sockaddr, flags))
        return await super().getnameinfo(sockaddr, flags)


@pytest.mark.parametrize(
    ("host", "port", "kw"),
    [
        ("localhost", 80, {}),  # /etc/hosts
        (socket.gethostname(), 80, {}),  # the machine's own name
        ("a.test", "http", {}),  # a service name: /etc/services
        ("a.test", 80, {"flags": socket.AI_ADDRCONFIG}),
        ("a.test", 80, {"flags": socket.AI_V4MAPPED, "family": socket.AF_INET6}),
        ("bücher.test", 80, {}),  # idna
        ("a.test", 80, {"family": socket.AF_UNIX}),
    ],
)
def test_queries_c_ares_cannot_reproduce_go_to_the_fallback(
    server: DNSTestServer, host: str, port: Any, kw: dict[str, Any]
) -> None:
    fallback = RecordingFallback()
    resolver = CaresResolver(servers=[server.address], fallback=fallback)
    assert not resolver.answers_by_dns(host, port, **kw)
    asked = server.count(host)

    async def lookup(r: CaresResolver) -> Any:
        try:
            return await r.getaddrinfo(host, port, **kw)
        except OSError as exc:
            return type(exc), exc.args

    got = run(lookup, resolver)
    assert fallback.calls == [(host, port, {"family": 0, "type": 0, "proto": 0, "flags": 0, **kw})]
    assert server.count(host) == asked
    if host in ("localhost", socket.gethostname()):  # no DNS involved: no network needed
        assert got == socket.getaddrinfo(host, port, **kw)


def test_ip_literals_are_answered_inline(server: DNSTestServer) -> None:
    fallback = RecordingFallback()
    resolver = CaresResolver(servers=[server.address], fallback=fallback)

    async def lookup(r: CaresResolver) -> list[AddrInfo]:
        return await r.getaddrinfo("2001:db8::1", 443, type=socket.SOCK_STREAM)

    assert run(lookup, resolver) == socket.getaddrinfo("2001:db8::1", 443, type=socket.SOCK_STREAM)
    assert fallback.calls == []


def test_getnameinfo_goes_to_the_fallback(server: DNSTestServer) -> None:
    fallback = RecordingFallback()
    resolver = CaresResolver(servers=[server.address], fallback=fallback)
    flags = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
    got = run(lambda r: r.getnameinfo(("127.0.0.1", 80), flags), resolver)
    assert got == socket.getnameinfo(("127.0.0.1", 80), flags)
    assert fallback.calls == [(("127.0.0.1", 80), flags)]


def test_unattached_and_double_attach() -> None:
    resolver = CaresResolver()
    with pytest.raises(RuntimeError, match="not attached"):
        asyncio.run(resolver.getaddrinfo("a.test", 80))
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        resolver.attach(first)
        with pytest.raises(RuntimeError):
            resolver.attach(second)
    finally:
        resolver.close()
        first.close()
        second.close()


def test_is_a_resolver() -> None:
    assert isinstance(CaresResolver(), Resolver)
