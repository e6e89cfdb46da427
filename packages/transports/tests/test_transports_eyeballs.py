"""Happy eyeballs in create_connection (RFC 8305): staggered attempts, first success
wins, losers closed; every scenario on layerloop (each backend) and on asyncio.

Addresses come from a stubbed ``loop.getaddrinfo`` (both loops resolve a host name
through it), pointing at real sockets on loopback: a listener that accepts, a closed
port (refused at once) and a *black hole*: a listener with a full backlog that never
accepts, so a connect to it hangs (the kernel drops the SYN).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from transports_helpers import Recorder, open_fds

HOST = "eyeballs.invalid"


def _info(address: tuple[Any, ...]) -> tuple[Any, ...]:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)


def _stub_resolver(loop: asyncio.AbstractEventLoop, infos: list[tuple[Any, ...]]) -> None:
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host == HOST:
            return list(infos)
        return await real(host, *args, **kwargs)

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture
def black_hole() -> Iterator[tuple[str, int]]:
    """A loopback address whose connects hang: backlog 0 filled by one connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname())
    with listener, filler:
        yield listener.getsockname()


def _closed_port(family: int = socket.AF_INET, host: str = "127.0.0.1") -> tuple[Any, ...]:
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[:2]


async def _server(loop: asyncio.AbstractEventLoop, host: str = "127.0.0.1") -> Any:
    return await loop.create_server(Recorder, host, 0)


def test_a_hanging_first_address_is_overtaken(
    loop: asyncio.AbstractEventLoop, black_hole: tuple[str, int]
) -> None:
    async def main() -> None:
        server = await _server(loop)
        good = server.sockets[0].getsockname()
        _stub_resolver(loop, [_info(black_hole), _info(good)])
        before = open_fds()
        started = loop.time()
        transport, _ = await loop.create_connection(Recorder, HOST, 1, happy_eyeballs_delay=0.1)
        elapsed = loop.time() - started
        assert transport.get_extra_info("peername") == good
        # The second attempt started after the delay, not after a connect timeout.
        assert 0.09 <= elapsed < 1.0
        # The loser's socket was closed: only the new transport's fd remains.
        assert open_fds() == before + 1 + 1  # the client and the accepted connection
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_without_a_delay_the_hanging_address_blocks(
    loop: asyncio.AbstractEventLoop, black_hole: tuple[str, int]
) -> None:
    # The contrast: addresses tried one after the other wait for the first one.
    async def main() -> None:
        server = await _server(loop)
        _stub_resolver(loop, [_info(black_hole), _info(server.sockets[0].getsockname())])
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(loop.create_connection(Recorder, HOST, 1), 0.5)
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_a_failed_attempt_starts_the_next_at_once(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server = await _server(loop)
        good = server.sockets[0].getsockname()
        _stub_resolver(loop, [_info(_closed_port()), _info(good)])
        started = loop.time()
        transport, _ = await loop.create_connection(Recorder, HOST, 1, happy_eyeballs_delay=5.0)
        assert loop.time() - started < 2.0
        assert transport.get_extra_info("peername") == good
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_the_first_address_wins_when_it_connects(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        accepted: list[Recorder] = []

        def counting() -> Recorder:
            accepted.append(Recorder())
            return accepted[-1]

        first = await _server(loop)
        second = await loop.create_server(counting, "127.0.0.1", 0)
        addresses = [s.sockets[0].getsockname() for s in (first, second)]
        _stub_resolver(loop, [_info(address) for address in addresses])
        transport, _ = await loop.create_connection(Recorder, HOST, 1, happy_eyeballs_delay=0.2)
        assert transport.get_extra_info("peername") == addresses[0]
        await asyncio.sleep(0.3)
        # The second attempt was never started: nobody connected to the second server.
        assert accepted == []
        transport.close()
        for server in (first, second):
            server.close()
            await server.wait_closed()

    loop.run_until_complete(main())


@pytest.mark.parametrize("all_errors", [False, True])
def test_every_attempt_failing_reports_in_attempt_order(
    loop: asyncio.AbstractEventLoop, all_errors: bool
) -> None:
    families = [socket.AF_INET, socket.AF_INET, socket.AF_INET]
    hosts = ["127.0.0.1"] * 3
    if _ipv6_loopback():
        families += [socket.AF_INET6, socket.AF_INET6]
        hosts += ["::1", "::1"]
    addresses = [_closed_port(f, h) for f, h in zip(families, hosts, strict=True)]
    if all_errors and not hasattr(loop, "backend") and not _all_errors_on_asyncio():
        pytest.skip("asyncio's create_connection has all_errors from Python 3.12")

    async def main() -> list[str]:
        _stub_resolver(loop, [_info(address) for address in addresses])
        kwargs: dict[str, Any] = {"all_errors": True} if all_errors else {}
        with pytest.raises((OSError, ExceptionGroup)) as caught:
            await loop.create_connection(Recorder, HOST, 1, happy_eyeballs_delay=0.05, **kwargs)
        if all_errors:
            assert isinstance(caught.value, ExceptionGroup)
            return [str(exc) for exc in caught.value.exceptions]
        return [str(caught.value)]

    messages = loop.run_until_complete(main())
    # interleave defaults to 1 with a delay: the families alternate (v4, v6, v4, v6, v4).
    v4 = [a for a in addresses if ":" not in a[0]]
    v6 = [a for a in addresses if ":" in a[0]]
    expected: list[tuple[Any, ...]] = []
    for index in range(max(len(v4), len(v6))):
        expected += v4[index : index + 1] + v6[index : index + 1]
    text = " ".join(messages)
    positions = [text.find(f"{address[0]!r}, {address[1]}") for address in expected]
    assert -1 not in positions, (text, expected)
    assert positions == sorted(positions)


def _all_errors_on_asyncio() -> bool:
    return sys.version_info >= (3, 12)


def test_interleave_given_explicitly(loop: asyncio.AbstractEventLoop) -> None:
    if not _ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host: the interleaving needs two families")
    v4 = [_closed_port() for _ in range(3)]
    v6 = [_closed_port(socket.AF_INET6, "::1") for _ in range(2)]

    async def main() -> str:
        _stub_resolver(loop, [_info(a) for a in v4 + v6])
        with pytest.raises(OSError) as caught:
            await loop.create_connection(Recorder, HOST, 1, happy_eyeballs_delay=0.05, interleave=2)
        return str(caught.value)

    text = loop.run_until_complete(main())
    # interleave=2: two of the first family, then alternate.
    expected = [v4[0], v4[1], v6[0], v4[2], v6[1]]
    positions = [text.find(f"{a[0]!r}, {a[1]}") for a in expected]
    assert -1 not in positions and positions == sorted(positions), text


def test_cancelling_the_race_closes_every_attempt(
    loop: asyncio.AbstractEventLoop, black_hole: tuple[str, int]
) -> None:
    async def main() -> None:
        _stub_resolver(loop, [_info(black_hole)] * 3)
        before = open_fds()
        task = loop.create_task(
            loop.create_connection(Recorder, HOST, 1, happy_eyeballs_delay=0.02)
        )
        await asyncio.sleep(0.2)  # all three attempts are hanging by now
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert open_fds() == before

    loop.run_until_complete(main())


def test_local_addr_with_happy_eyeballs(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server = await _server(loop)
        good = server.sockets[0].getsockname()
        _stub_resolver(loop, [_info(good)])
        transport, _ = await loop.create_connection(
            Recorder, HOST, 1, happy_eyeballs_delay=0.1, local_addr=("127.0.0.1", 0)
        )
        assert transport.get_extra_info("sockname")[0] == "127.0.0.1"
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())
