"""ThreadedResolver against socket.getaddrinfo/getnameinfo as the oracle.

No test touches the network: hosts are IP literals, or names listed in /etc/hosts queried
only for the address families /etc/hosts lists them with; literals that are not valid
are queried with AI_NUMERICHOST so that the oracle call cannot fall through to DNS.

The resolver is driven by a stdlib asyncio loop: all it needs from a loop is
``run_in_executor`` and ``get_debug``, and the stdlib loop is the reference for both.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from layerloop_core.abc import Resolver
from layerloop_dns import ThreadedResolver, _threaded

T = TypeVar("T")

AF_INET6 = socket.AF_INET6
HAS_LO_SCOPE = True
try:
    LO_INDEX = socket.if_nametoindex("lo")
except OSError:  # pragma: no cover - every Linux box has "lo"
    HAS_LO_SCOPE = False
    LO_INDEX = 1


class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A default executor that counts submissions and can forbid them."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.calls = 0
        self.forbidden = False

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        self.calls += 1
        if self.forbidden:
            raise AssertionError(f"executor used for {fn!r}{args!r}")
        return super().submit(fn, *args, **kwargs)


class Harness:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.executor = CountingExecutor()
        self.loop.set_default_executor(self.executor)
        self.resolver = ThreadedResolver()
        self.resolver.attach(self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.resolver.close()
        self.loop.close()
        self.executor.shutdown(wait=True)


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    try:
        yield harness
    finally:
        harness.close()


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """The result of *fn*, or its exception's type and args (errno and message)."""
    try:
        return ("ok", fn())
    except Exception as exc:
        return (type(exc).__name__, exc.args)


def etc_hosts_names() -> list[tuple[str, int]]:
    """(name, family) pairs /etc/hosts answers by itself."""
    pairs: set[tuple[str, int]] = set()
    try:
        with open("/etc/hosts") as f:
            lines = f.read().splitlines()
    except OSError:
        return [("localhost", socket.AF_INET)]
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        family = AF_INET6 if ":" in fields[0] else socket.AF_INET
        for name in fields[1:]:
            pairs.add((name, family))
    return sorted(pairs)


# -- getaddrinfo --------------------------------------------------------------------

# Hosts whose answers come from the literal parse alone: eligible for the fast path.
LITERALS: list[str | bytes | None] = [
    "127.0.0.1",
    "0.0.0.0",
    "192.0.2.7",
    "127.1",
    "0x7f.1",
    "::1",
    "::",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "fe80::1%1",
    b"127.0.0.1",
    b"::1",
    None,
]
if HAS_LO_SCOPE:
    LITERALS += ["fe80::1%lo", b"fe80::1%lo"]

# Not literals: only ever queried with AI_NUMERICHOST so nothing reaches DNS.
BAD_LITERALS: list[str | bytes] = [
    "",
    b"",
    "1.2.3.4.5",
    "999.1.1.1",
    "[::1]",
    " 127.0.0.1",
    "127.0.0.1 ",
    "fe80::1%no-such-if0",
    "::1%",
    "\u0661\u0662\u0667.0.0.1",
    "example.invalid",
]

NUMERIC_PORTS: list[str | bytes | int | None] = [80, 0, 65535, None, "443", b"8080", "0"]
NAMED_PORTS: list[str | bytes] = ["http", b"https", "domain"]
BAD_PORTS: list[str | bytes | int] = ["no-such-service", "", "80x", -1, 70000]

FAMILIES = [0, socket.AF_INET, AF_INET6, socket.AF_UNIX]
TYPES = [0, socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW]
PROTOS = [0, socket.IPPROTO_TCP, socket.IPPROTO_UDP]
FLAGS = [
    0,
    socket.AI_PASSIVE,
    socket.AI_CANONNAME,
    socket.AI_NUMERICHOST,
    socket.AI_NUMERICSERV,
    socket.AI_ADDRCONFIG,
    socket.AI_V4MAPPED,
    socket.AI_V4MAPPED | socket.AI_ALL,
    socket.AI_PASSIVE | socket.AI_CANONNAME | socket.AI_NUMERICSERV,
]


def compare_getaddrinfo(
    h: Harness,
    host: str | bytes | None,
    ports: list[Any],
    families: list[int],
    flags_list: list[int],
    *,
    extra_flags: int = 0,
    types: list[int] = TYPES,
    protos: list[int] = PROTOS,
) -> tuple[int, list[str]]:
    """Compare every combination; return (cases compared, mismatches)."""
    combos = [
        (port, family, type_, proto, flags | extra_flags)
        for port, family, type_, proto, flags in itertools.product(
            ports, families, types, protos, flags_list
        )
    ]

    async def ours() -> list[tuple[str, Any]]:
        # One task for the whole table: the loop's own overhead stays out of the way.
        answers: list[tuple[str, Any]] = []
        for port, family, type_, proto, flags in combos:
            try:
                answer = await h.resolver.getaddrinfo(
                    host, port, family=family, type=type_, proto=proto, flags=flags
                )
            except Exception as exc:
                answers.append((type(exc).__name__, exc.args))
            else:
                answers.append(("ok", answer))
        return answers

    mismatches = []
    for combo, answer in zip(combos, h.run(ours()), strict=True):
        expected = outcome(lambda: socket.getaddrinfo(host, *combo))  # noqa: B023
        # repr as well: an int where socket gives an AddressFamily member compares equal.
        if expected != answer or repr(expected) != repr(answer):
            mismatches.append(f"{(host, *combo)}: {expected} != {answer}")
    return len(combos), mismatches


@pytest.mark.parametrize("host", LITERALS, ids=repr)
def test_literal_hosts_match_socket_getaddrinfo(h: Harness, host: str | bytes | None) -> None:
    # Every combination with numeric ports (the fast path and its fallbacks)...
    count, mismatches = compare_getaddrinfo(h, host, NUMERIC_PORTS, FAMILIES, FLAGS)
    assert count == len(NUMERIC_PORTS) * len(FAMILIES) * len(TYPES) * len(PROTOS) * len(FLAGS)
    # ...and service names and bad ports, which always take the executor.
    _, more = compare_getaddrinfo(
        h,
        host,
        NAMED_PORTS + BAD_PORTS,
        FAMILIES,
        [0, socket.AI_NUMERICSERV, socket.AI_PASSIVE | socket.AI_CANONNAME],
        protos=[0],
    )
    mismatches += more
    assert not mismatches, "\n".join(mismatches[:20])


@pytest.mark.parametrize("host", BAD_LITERALS, ids=repr)
def test_bad_literals_raise_the_same_gaierror(h: Harness, host: str | bytes) -> None:
    _, mismatches = compare_getaddrinfo(
        h, host, [80, None, "http"], FAMILIES, FLAGS, extra_flags=socket.AI_NUMERICHOST
    )
    assert not mismatches, "\n".join(mismatches[:20])
    with pytest.raises(socket.gaierror) as info:
        h.run(h.resolver.getaddrinfo(host, 80, flags=socket.AI_NUMERICHOST))
    with pytest.raises(socket.gaierror) as oracle:
        socket.getaddrinfo(host, 80, flags=socket.AI_NUMERICHOST)
    assert info.value.errno == oracle.value.errno
    assert info.value.args == oracle.value.args


@pytest.mark.parametrize("pair", etc_hosts_names(), ids=repr)
def test_etc_hosts_names_match_socket_getaddrinfo(h: Harness, pair: tuple[str, int]) -> None:
    name, family = pair
    for host in (name, name.encode()):
        _, mismatches = compare_getaddrinfo(
            h, host, [80, None, "http", "no-such-service"], [0, family], FLAGS
        )
        assert not mismatches, "\n".join(mismatches[:20])


def test_family_mismatch_errors_match(h: Harness) -> None:
    # A literal of the wrong family is refused by the literal parse itself.
    for host, family in (("::1", socket.AF_INET), ("127.0.0.1", AF_INET6)):
        got = outcome(lambda: h.run(h.resolver.getaddrinfo(host, 80, family=family)))  # noqa: B023
        expected = outcome(lambda: socket.getaddrinfo(host, 80, family))  # noqa: B023
        assert got == expected
        assert got[0] == "gaierror"


def test_scope_ids_are_resolved_like_socket(h: Harness) -> None:
    if not HAS_LO_SCOPE:
        pytest.skip("no interface named 'lo' on this machine")
    got = h.run(h.resolver.getaddrinfo("fe80::1%lo", 80, type=socket.SOCK_STREAM))
    assert got == socket.getaddrinfo("fe80::1%lo", 80, 0, socket.SOCK_STREAM)
    assert got[0][4] == ("fe80::1", 80, 0, LO_INDEX)
    assert h.executor.calls == 0


def test_argument_type_errors_match(h: Harness) -> None:
    for host, port in (
        (bytearray(b"127.0.0.1"), 80),
        ("127.0.0.1", 1.5),
        ("127.0.0.1", object()),
        (1234, 80),
        ("x" * 70, 80),  # IDNA label too long: UnicodeError before any lookup
    ):
        got = outcome(lambda: h.run(h.resolver.getaddrinfo(host, port)))  # type: ignore[arg-type]  # noqa: B023
        expected = outcome(lambda: socket.getaddrinfo(host, port))  # type: ignore[arg-type]  # noqa: B023
        assert got == expected
        assert got[0] != "ok"


# -- the fast path does not hop threads ----------------------------------------------


FAST_CASES: list[tuple[Any, Any, int, int]] = [
    ("127.0.0.1", 80, 0, 0),
    ("127.0.0.1", None, socket.AF_INET, socket.AI_CANONNAME),
    ("::1", "443", 0, 0),
    (b"::1", b"443", AF_INET6, 0),
    ("2001:db8::1", 0, 0, socket.AI_NUMERICHOST),
    ("fe80::1%1", 80, 0, 0),
    (None, 80, 0, socket.AI_PASSIVE),
    (None, 80, 0, 0),
    ("127.0.0.1", 80, AF_INET6, socket.AI_V4MAPPED),
]

SLOW_CASES: list[tuple[Any, Any, int, int]] = [
    ("localhost", 80, socket.AF_INET, 0),
    (b"localhost", None, socket.AF_INET, 0),
    ("127.0.0.1", "http", 0, 0),
    ("::1", b"https", 0, 0),
    ("1.2.3.4.5", 80, 0, socket.AI_NUMERICHOST),
    ("::1", 80, socket.AF_INET, 0),
]


@pytest.mark.parametrize("case", FAST_CASES, ids=repr)
def test_numeric_queries_never_use_the_executor(
    h: Harness, case: tuple[Any, Any, int, int]
) -> None:
    host, port, family, flags = case
    h.executor.forbidden = True
    got = h.run(h.resolver.getaddrinfo(host, port, family=family, flags=flags))
    assert got == socket.getaddrinfo(host, port, family, 0, 0, flags)
    assert h.executor.calls == 0


def test_numeric_query_answers_without_suspending(h: Harness) -> None:
    # The coroutine finishes on its first step: no await on anything.
    coro = h.resolver.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
    with pytest.raises(StopIteration) as stop:
        coro.send(None)
    assert stop.value.value == socket.getaddrinfo("127.0.0.1", 80, 0, socket.SOCK_STREAM)


@pytest.mark.parametrize("case", SLOW_CASES, ids=repr)
def test_other_queries_run_in_the_default_executor(
    h: Harness, case: tuple[Any, Any, int, int]
) -> None:
    host, port, family, flags = case
    got = outcome(lambda: h.run(h.resolver.getaddrinfo(host, port, family=family, flags=flags)))
    assert got == outcome(lambda: socket.getaddrinfo(host, port, family, 0, 0, flags))
    assert h.executor.calls == 1


def test_slow_path_runs_off_the_loop_thread(h: Harness) -> None:
    seen: list[threading.Thread] = []
    real = socket.getaddrinfo

    def spy(*args: Any) -> Any:
        seen.append(threading.current_thread())
        return real(*args)

    loop_thread = threading.current_thread()
    mp = pytest.MonkeyPatch()
    mp.setattr(socket, "getaddrinfo", spy)
    try:
        h.run(h.resolver.getaddrinfo("localhost", 80, family=socket.AF_INET))
        h.run(h.resolver.getaddrinfo("127.1", 80))  # not synthesised: the inline call
        h.run(h.resolver.getaddrinfo("127.0.0.1", 80))  # synthesised: no call at all
    finally:
        mp.undo()
    assert len(seen) == (2 if _threaded._SYNTHESIS else 3)
    assert seen[0] is not loop_thread  # the executor
    assert all(thread is loop_thread for thread in seen[1:])  # inline


def test_inline_failure_falls_back_to_the_ordinary_call(h: Harness) -> None:
    # A name that looks numeric ("1password.example", "0.example" in /etc/hosts) fails
    # the inline attempt and must still get the full answer from the executor.
    calls: list[int] = []

    def fake(host: Any, *args: Any) -> Any:
        flags = args[-1]
        calls.append(flags)
        if flags & socket.AI_NUMERICHOST:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [("resolved", host)]

    mp = pytest.MonkeyPatch()
    mp.setattr(socket, "getaddrinfo", fake)
    try:
        got: Any = h.run(h.resolver.getaddrinfo("0.example", 80, flags=socket.AI_CANONNAME))
    finally:
        mp.undo()
    assert got == [("resolved", "0.example")]
    numeric = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
    assert calls == [socket.AI_CANONNAME | numeric, socket.AI_CANONNAME]
    assert h.executor.calls == 1


class FakeGetaddrinfo:
    """Stands in for socket.getaddrinfo: records its arguments, a distinct answer each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> list[Any]:
        self.calls.append(args)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"answer-{len(self.calls)}", 0))]


@pytest.fixture
def fake(h: Harness) -> Iterator[FakeGetaddrinfo]:
    fake = FakeGetaddrinfo()
    mp = pytest.MonkeyPatch()
    mp.setattr(socket, "getaddrinfo", fake)
    try:
        yield fake
    finally:
        mp.undo()


NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


def synthesised_queries() -> list[tuple[Any, Any, int, int, int, int]]:
    """A few thousand distinct queries the resolver builds answers for by itself (glibc)."""
    zones = [name for _, name in socket.if_nameindex()] + ["1", "0004294967295"]
    combos = [
        (0, 0, 0),
        (0, socket.SOCK_STREAM, 0),
        (socket.AF_UNSPEC, socket.SOCK_DGRAM, socket.IPPROTO_UDP),
        (0, 0, socket.IPPROTO_TCP),
    ]
    flag_sets = [0, socket.AI_CANONNAME, socket.AI_PASSIVE | socket.AI_NUMERICSERV]
    queries: list[tuple[Any, Any, int, int, int, int]] = []
    for i in range(3000):
        family, type_, proto = combos[i % len(combos)]
        flags = flag_sets[i % len(flag_sets)]
        port: Any = [i, str(i), str(i).encode(), None][i % 4]
        host: Any
        if i % 3 == 0:
            host = f"2001:db8:{i:x}::{i * 7 % 65536:x}"
        elif i % 3 == 1:
            host = f"192.{i % 256}.{i // 256}.{i * 13 % 256}"
        else:
            host = f"fe80::{i:x}%{zones[i % len(zones)]}"
        if i % 5 == 0:
            host = host.encode()
        if i % 4 == 3 and type_ == socket.SOCK_DGRAM:
            type_ = socket.SOCK_RAW  # no port: a raw socket answer
        queries.append((host, port, family, type_, proto, flags))
    for family in (socket.AF_INET, socket.AF_INET6):
        for flags in (0, socket.AI_PASSIVE):
            queries.append((None, 443, family, 0, 0, flags))
    return queries


def test_synthesised_answers_call_neither_socket_nor_the_executor(h: Harness) -> None:
    if not _threaded._SYNTHESIS:
        pytest.skip("answers are synthesised only with glibc")
    queries = synthesised_queries()
    expected = [repr(socket.getaddrinfo(*query)) for query in queries]

    def forbidden(*args: Any) -> Any:
        raise AssertionError(f"socket.getaddrinfo{args!r} called")

    async def ours() -> list[str]:
        answers = []
        for host, port, family, type_, proto, flags in queries:
            answer = await h.resolver.getaddrinfo(
                host, port, family=family, type=type_, proto=proto, flags=flags
            )
            answers.append(repr(answer))
        return answers

    h.executor.forbidden = True
    mp = pytest.MonkeyPatch()
    mp.setattr(socket, "getaddrinfo", forbidden)
    try:
        got = h.run(ours())
    finally:
        mp.undo()
    assert h.executor.calls == 0
    assert len(set(got)) == len(queries)  # distinct answers: nothing was replayed
    for query, answer, oracle in zip(queries, got, expected, strict=True):
        assert answer == oracle, query


# Queries the resolver does not build by itself: (query, where socket.getaddrinfo runs).
NOT_SYNTHESISED: list[tuple[tuple[Any, Any, int, int, int, int], str]] = [
    (("127.1", 80, 0, 0, 0, 0), "inline"),  # an inet_aton form
    (("0x7f.1", "80", 0, socket.SOCK_STREAM, 0, 0), "inline"),
    ((None, 80, 0, socket.SOCK_STREAM, 0, 0), "inline"),  # two addresses, RFC 3484 order
    ((None, 80, 0, 0, 0, socket.AI_PASSIVE), "inline"),
    (("127.0.0.1", 80, 0, 0, 0, socket.AI_ADDRCONFIG), "inline"),
    (("127.0.0.1", 80, AF_INET6, 0, 0, socket.AI_V4MAPPED), "inline"),
    (("::1", 80, socket.AF_INET, 0, 0, 0), "inline"),  # family mismatch
    (("127.0.0.1", 70000, 0, 0, 0, 0), "inline"),  # glibc truncates it to 16 bits
    (("127.0.0.1", "000080", 0, 0, 0, 0), "inline"),
    (("127.0.0.1", 80, 0, socket.SOCK_SEQPACKET, 0, 0), "inline"),
    (("127.0.0.1", 80, 0, 0, socket.IPPROTO_SCTP, 0), "inline"),
    (("127.0.0.1", 80, 0, socket.SOCK_RAW, 0, 0), "inline"),  # an error: EAI_SERVICE
    (("fe80::1%no-such-if0", 80, 0, 0, 0, 0), "inline"),
    (("localhost", 80, socket.AF_INET, 0, 0, 0), "executor"),
    (("127.0.0.1", "http", 0, 0, 0, 0), "executor"),
    ((b"::1", b"https", 0, 0, 0, 0), "executor"),
    (("127.0.0.1", -1, 0, 0, 0, 0), "inline"),
]


@pytest.mark.parametrize("case", NOT_SYNTHESISED, ids=repr)
def test_a_patched_socket_getaddrinfo_answers_other_queries(
    h: Harness, fake: FakeGetaddrinfo, case: tuple[tuple[Any, ...], str]
) -> None:
    (host, port, family, type_, proto, flags), where = case
    got: Any = h.run(
        h.resolver.getaddrinfo(host, port, family=family, type=type_, proto=proto, flags=flags)
    )
    assert got == [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"answer-{len(fake.calls)}", 0))]
    if where == "inline":
        # Answered on the loop's thread by the numeric call, which the fake answers.
        assert fake.calls == [(host, port, family, type_, proto, flags | NUMERIC)]
        assert h.executor.calls == 0
    else:
        assert fake.calls == [(host, port, family, type_, proto, flags)]
        assert h.executor.calls == 1


def test_a_patched_socket_getaddrinfo_is_seen_at_once(h: Harness, fake: FakeGetaddrinfo) -> None:
    # Nothing is cached: the same query asked twice asks socket twice.
    for _ in range(2):
        h.run(h.resolver.getaddrinfo("127.1", 80))
    assert len(fake.calls) == 2


def test_answers_are_fresh_lists(h: Harness) -> None:
    for host in ("127.0.0.1", "::1", "127.1", None):
        first: list[Any] = h.run(
            h.resolver.getaddrinfo(host, 80, family=socket.AF_INET6 * (host == "::1"))
        )
        first.append("scribbled on by the caller")
        second = h.run(h.resolver.getaddrinfo(host, 80, family=socket.AF_INET6 * (host == "::1")))
        assert second == first[:-1]
        assert second is not first


def test_arguments_the_socket_module_refuses(h: Harness) -> None:
    # 1.0 == 1 and True == 1: equal to table keys, yet floats are refused (and bool ports).
    for port, family, type_, flags in (
        (1.0, 2, 1, 1),
        (True, 2, 1, 1),
        (1, 2.0, 1, 1),
        (1, 2, 1.0, 1),
        (1, 2, 1, 1.0),
        (1, 2**40, 1, 0),
    ):
        got = outcome(
            lambda: h.run(
                h.resolver.getaddrinfo("127.0.0.1", port, family=family, type=type_, flags=flags)  # type: ignore[arg-type]  # noqa: B023
            )
        )
        expected = outcome(lambda: socket.getaddrinfo("127.0.0.1", port, family, type_, 0, flags))  # type: ignore[arg-type]  # noqa: B023
        assert got == expected
        assert got[0] != "ok"


# -- getnameinfo -----------------------------------------------------------------------

NI_FLAGS = [
    socket.NI_NUMERICHOST | socket.NI_NUMERICSERV,
    socket.NI_NUMERICHOST | socket.NI_NUMERICSERV | socket.NI_DGRAM,
    socket.NI_NUMERICHOST | socket.NI_NUMERICSERV | socket.NI_NAMEREQD,
    socket.NI_NUMERICHOST,
    socket.NI_NUMERICSERV,
    socket.NI_NUMERICHOST | socket.NI_NOFQDN,
]

SOCKADDRS: list[Any] = [
    ("127.0.0.1", 80),
    ("127.0.0.1", 0),
    ("192.0.2.7", 53),
    ("::1", 443, 0, 0),
    ("fe80::1", 80, 0, LO_INDEX),
    ("fe80::1", 80, 0, 0),
    ("::ffff:127.0.0.1", 22, 0, 0),
    ("localhost", 80),  # the socket wrapper insists on a numeric host
    ("127.0.0.1",),
    ("127.0.0.1", "80"),
    ["127.0.0.1", 80],
    ("127.0.0.1", 80, 0, 0, 0),
]


def test_getnameinfo_matches_socket(h: Harness) -> None:
    mismatches = []
    for sockaddr, flags in itertools.product(SOCKADDRS, NI_FLAGS):
        if not flags & socket.NI_NUMERICHOST and sockaddr[0] != "127.0.0.1":
            continue  # a reverse lookup of anything but 127.0.0.1 could reach DNS
        expected = outcome(lambda: socket.getnameinfo(sockaddr, flags))  # noqa: B023
        got = outcome(lambda: h.run(h.resolver.getnameinfo(sockaddr, flags)))  # noqa: B023
        if expected != got:
            mismatches.append(f"{sockaddr!r} {flags}: {expected} != {got}")
    assert not mismatches, "\n".join(mismatches)


def test_getnameinfo_reverse_lookup_via_etc_hosts(h: Harness) -> None:
    for flags in (0, socket.NI_NUMERICSERV, socket.NI_NAMEREQD, socket.NI_DGRAM):
        got = h.run(h.resolver.getnameinfo(("127.0.0.1", 80), flags))
        assert got == socket.getnameinfo(("127.0.0.1", 80), flags)
    assert h.executor.calls == 4


def test_numeric_getnameinfo_never_uses_the_executor(h: Harness) -> None:
    h.executor.forbidden = True
    numeric = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
    assert h.run(h.resolver.getnameinfo(("::1", 80, 0, 0), numeric)) == ("::1", "80")
    got = h.run(h.resolver.getnameinfo(("fe80::1", 80, 0, LO_INDEX), numeric))
    assert got == socket.getnameinfo(("fe80::1", 80, 0, LO_INDEX), numeric)
    assert h.executor.calls == 0


def test_getnameinfo_name_required_goes_to_the_executor(h: Harness) -> None:
    flags = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV | socket.NI_NAMEREQD
    got = outcome(lambda: h.run(h.resolver.getnameinfo(("127.0.0.1", 80), flags)))
    assert got == outcome(lambda: socket.getnameinfo(("127.0.0.1", 80), flags))
    assert h.executor.calls == 1


# -- lifecycle, debug, protocol ------------------------------------------------------


def test_is_a_resolver() -> None:
    resolver: Resolver = ThreadedResolver()
    assert isinstance(resolver, Resolver)


def test_unattached_resolver_refuses() -> None:
    resolver = ThreadedResolver()
    for coro in (
        resolver.getaddrinfo("127.0.0.1", 80),
        resolver.getaddrinfo("localhost", 80),
        resolver.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV),
    ):
        with pytest.raises(RuntimeError, match="not attached"):
            coro.send(None)


def test_attach_to_a_second_loop_is_refused(h: Harness) -> None:
    other = asyncio.new_event_loop()
    try:
        h.resolver.attach(h.loop)  # the same loop again is fine
        with pytest.raises(RuntimeError, match="another loop"):
            h.resolver.attach(other)
    finally:
        other.close()


def test_close_is_idempotent(h: Harness) -> None:
    h.resolver.close()
    h.resolver.close()


def test_debug_mode_logs_inline_answers(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    h.loop.set_debug(True)
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        got = h.run(h.resolver.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM))
    assert got == socket.getaddrinfo("127.0.0.1", 80, 0, socket.SOCK_STREAM)
    assert h.executor.calls == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert any("'127.0.0.1':80" in m and "inline" in m for m in messages), messages


def test_cancelling_a_slow_query(h: Harness) -> None:
    started = threading.Event()
    release = threading.Event()
    real = socket.getaddrinfo

    def blocking(*args: Any) -> Any:
        started.set()
        release.wait(10)
        return real(*args)

    async def main() -> None:
        task = asyncio.ensure_future(h.resolver.getaddrinfo("localhost", 80))
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    mp = pytest.MonkeyPatch()
    mp.setattr(socket, "getaddrinfo", blocking)
    try:
        h.run(main())
    finally:
        release.set()
        mp.undo()
