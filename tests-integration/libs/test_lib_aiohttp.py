"""aiohttp's web server and client, both on layerloop, over loopback (plain and TLS)."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from libs_support import DEFAULT_BACKEND, TLS, LoopRunner, pattern, pattern_digest, require

require("aiohttp")
import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

BIG = 4 * 1024 * 1024 + 123  # a few MB, not a multiple of any chunk size


def make_app(runner: LoopRunner, server_ssl: ssl.SSLContext | None) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/hello")
    async def hello(request: web.Request) -> web.Response:
        runner.check()
        return web.Response(text=f"hello {request.query.get('name', 'world')}")

    @routes.get("/tls")
    async def tls_info(request: web.Request) -> web.Response:
        assert request.transport is not None
        ssl_object = request.transport.get_extra_info("ssl_object")
        context = request.transport.get_extra_info("sslcontext")
        return web.json_response(
            {"tls": isinstance(ssl_object, ssl.SSLObject), "context": context is server_ssl}
        )

    @routes.post("/json")
    async def json_echo(request: web.Request) -> web.Response:
        runner.check()
        data = await request.json()
        return web.json_response({"got": data, "method": request.method})

    @routes.post("/upload")
    async def upload(request: web.Request) -> web.Response:
        runner.check()
        digest, size = hashlib.sha256(), 0
        async for piece in request.content.iter_any():
            digest.update(piece)
            size += len(piece)
        return web.json_response({"size": size, "sha256": digest.hexdigest()})

    @routes.get("/download/{size}")
    async def download(request: web.Request) -> web.StreamResponse:
        runner.check()
        size = int(request.match_info["size"])
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in pattern(size, seed=7):
            await response.write(piece)
        await response.write_eof()
        return response

    @routes.get("/chunks")
    async def chunks(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(5):
            await response.write(f"part {i};".encode())
            await asyncio.sleep(0.01)  # separate chunks on the wire
        await response.write_eof()
        return response

    @routes.get("/slow/{n}")
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.01)
        return web.Response(text=request.match_info["n"])

    @routes.get("/ws")
    async def websocket(request: web.Request) -> web.WebSocketResponse:
        runner.check()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str("echo:" + message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data[::-1])
        return ws

    app = web.Application(client_max_size=BIG * 2)
    app.add_routes(routes)
    return app


@asynccontextmanager
async def serving(
    runner: LoopRunner, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    """The app served on 127.0.0.1 (port chosen by the kernel); yields the base URL."""
    app_runner = web.AppRunner(make_app(runner, ssl_context))
    await app_runner.setup()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    site = web.SockSite(app_runner, listener, ssl_context=ssl_context)
    await site.start()
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        await app_runner.cleanup()


def on_server(
    runner: LoopRunner,
    body: Callable[[aiohttp.ClientSession, str], Awaitable[None]],
    server_ssl: ssl.SSLContext | None = None,
    client_ssl: ssl.SSLContext | None = None,
    *,
    handlers_run: bool = True,
) -> None:
    async def main() -> None:
        async with serving(runner, server_ssl) as url:
            connector = aiohttp.TCPConnector(ssl=client_ssl if client_ssl else True)
            async with aiohttp.ClientSession(connector=connector) as session:
                await body(session, url)

    before = runner.checks
    runner.run(main)
    if handlers_run:  # and checked that they ran on the runner's loop
        assert runner.checks > before + 1


def test_get_and_post(runner: LoopRunner) -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(f"{url}/hello", params={"name": "loop"}) as response:
            assert response.status == 200
            assert await response.text() == "hello loop"
        async with session.post(f"{url}/json", json={"a": [1, 2, 3]}) as response:
            assert await response.json() == {"got": {"a": [1, 2, 3]}, "method": "POST"}
        async with session.get(f"{url}/missing") as response:
            assert response.status == 404

    on_server(runner, body)


async def _big_transfers(session: aiohttp.ClientSession, url: str) -> None:
    async def upload_body() -> AsyncIterator[bytes]:
        for piece in pattern(BIG, seed=3):
            yield piece

    async with session.post(f"{url}/upload", data=upload_body()) as response:
        assert response.status == 200
        assert await response.json() == {"size": BIG, "sha256": pattern_digest(BIG, seed=3)}

    async with session.get(f"{url}/download/{BIG}") as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        digest, size = hashlib.sha256(), 0
        async for piece in response.content.iter_chunked(100_000):
            digest.update(piece)
            size += len(piece)
    assert size == BIG
    assert digest.hexdigest() == pattern_digest(BIG, seed=7)


def test_streaming_megabytes_both_ways(runner: LoopRunner) -> None:
    on_server(runner, _big_transfers)


def test_chunked_response(runner: LoopRunner) -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(f"{url}/chunks") as response:
            assert response.headers["Transfer-Encoding"] == "chunked"
            assert await response.text() == "".join(f"part {i};" for i in range(5))
        async with session.get(f"{url}/hello") as response:  # the keep-alive connection
            assert await response.text() == "hello world"

    on_server(runner, body)


def test_many_concurrent_requests(runner: LoopRunner) -> None:
    count = 300

    async def body(session: aiohttp.ClientSession, url: str) -> None:
        async def one(i: int) -> str:
            async with session.get(f"{url}/slow/{i}") as response:
                return await response.text()

        results = await asyncio.gather(*(one(i) for i in range(count)))
        assert results == [str(i) for i in range(count)]
        async with session.get(f"{url}/hello") as response:
            assert response.status == 200

    on_server(runner, body)


async def _websocket_echo(session: aiohttp.ClientSession, url: str) -> None:
    async with session.ws_connect(f"{url.replace('http', 'ws', 1)}/ws") as ws:
        for i in range(20):
            await ws.send_str(f"message {i}")
            assert await ws.receive_str() == f"echo:message {i}"
        blob = b"".join(pattern(300_000, seed=1))
        await ws.send_bytes(blob)
        assert await ws.receive_bytes() == blob[::-1]
        await ws.close()
    assert ws.closed


def test_websocket_echo(runner: LoopRunner) -> None:
    on_server(runner, _websocket_echo)


# -- TLS: a certificate for 127.0.0.1 made by the tls fixture (trustme) -------------------


def test_tls_requests_and_streams(runner: LoopRunner, tls: TLS) -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> None:
        assert url.startswith("https://")
        async with session.get(f"{url}/tls") as response:
            assert await response.json() == {"tls": True, "context": True}
        async with session.get(f"{url}/download/{BIG}") as response:
            assert response.connection is not None  # held while the body streams
            transport = response.connection.transport
            assert transport is not None
            peercert = transport.get_extra_info("peercert")
            assert ("IP Address", "127.0.0.1") in peercert["subjectAltName"], peercert
            assert isinstance(transport.get_extra_info("ssl_object"), ssl.SSLObject)
            assert len(await response.read()) == BIG
        await _big_transfers(session, url)

    on_server(runner, body, tls.server, tls.client)


def test_tls_websocket(runner: LoopRunner, tls: TLS) -> None:
    on_server(runner, _websocket_echo, tls.server, tls.client)


@pytest.mark.parametrize("runner", [DEFAULT_BACKEND], indirect=True)
def test_tls_untrusted_certificate_is_refused(runner: LoopRunner, tls: TLS) -> None:
    async def body(session: aiohttp.ClientSession, url: str) -> None:
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as caught:
            await session.get(f"{url}/hello")
        assert isinstance(caught.value.certificate_error, ssl.SSLCertVerificationError)

    on_server(runner, body, tls.server, tls.untrusting_client, handlers_run=False)
