"""The websockets library (its asyncio implementation): server and client on layerloop."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest
from libs_support import DEFAULT_BACKEND, TLS, LoopRunner, pattern, require

require("websockets")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402
from websockets.exceptions import ConnectionClosedOK  # noqa: E402


def echo_handler(runner: LoopRunner) -> Any:
    async def echo(connection: ServerConnection) -> None:
        runner.check()
        async for message in connection:
            await connection.send(message)

    return echo


async def _exchange(uri: str, client_ssl: ssl.SSLContext | None = None) -> None:
    async with connect(uri, ssl=client_ssl, max_size=None) as ws:
        for i in range(20):
            await ws.send(f"text {i}")
            assert await ws.recv() == f"text {i}"
        blob = b"".join(pattern(1_500_000, seed=9))  # fragmented over many reads
        await ws.send(blob)
        assert await ws.recv() == blob
        latency = await (await ws.ping())
        assert latency >= 0
    assert ws.close_code == 1000


def test_echo_text_binary_ping(runner: LoopRunner) -> None:
    async def main() -> None:
        async with serve(echo_handler(runner), "127.0.0.1", 0, max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            await _exchange(f"ws://127.0.0.1:{port}")

    before = runner.checks
    runner.run(main)
    assert runner.checks == before + 2  # main and the handler


def test_many_concurrent_clients(runner: LoopRunner) -> None:
    clients = 50

    async def main() -> None:
        async with serve(echo_handler(runner), "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]

            async def one(i: int) -> list[str | bytes]:
                async with connect(f"ws://127.0.0.1:{port}") as ws:
                    got: list[str | bytes] = []
                    for j in range(10):
                        await ws.send(f"{i}.{j}")
                        got.append(await ws.recv())
                    return got

            results = await asyncio.gather(*(one(i) for i in range(clients)))
            assert results == [[f"{i}.{j}" for j in range(10)] for i in range(clients)]

    before = runner.checks
    runner.run(main)
    assert runner.checks == before + 1 + clients


@pytest.mark.parametrize("runner", [DEFAULT_BACKEND], indirect=True)
def test_server_closing_ends_clients_cleanly(runner: LoopRunner) -> None:
    async def main() -> None:
        async def greet_and_close(connection: ServerConnection) -> None:
            await connection.send("bye")
            await connection.close(1000, "done")

        async with serve(greet_and_close, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                assert await ws.recv() == "bye"
                with pytest.raises(ConnectionClosedOK):
                    await ws.recv()
                assert ws.close_reason == "done"

    runner.run(main)


def test_tls_echo(runner: LoopRunner, tls: TLS) -> None:
    async def main() -> None:
        async with serve(
            echo_handler(runner), "127.0.0.1", 0, ssl=tls.server, max_size=None
        ) as server:
            port = server.sockets[0].getsockname()[1]
            await _exchange(f"wss://127.0.0.1:{port}", tls.client)

    before = runner.checks
    runner.run(main)
    assert runner.checks == before + 2
