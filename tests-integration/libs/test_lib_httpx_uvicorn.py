"""httpx.AsyncClient against an aiohttp server, and uvicorn serving an ASGI app, on layerloop.

On the default backend only: httpx is slow enough (pure-Python HTTP) to make these the
longest tests here, and the other modules already cover every backend with the same
kinds of traffic.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import pytest
from libs_support import DEFAULT_BACKEND, LoopRunner, pattern, pattern_digest, require

require("httpx")
import httpx  # noqa: E402

require("uvicorn")
import uvicorn  # noqa: E402

require("aiohttp")
from aiohttp import web  # noqa: E402

BIG = 3 * 1024 * 1024 + 17
ONE_BACKEND = pytest.mark.parametrize("runner", [DEFAULT_BACKEND], indirect=True)


async def _upload_body() -> AsyncIterator[bytes]:
    for piece in pattern(BIG, seed=11):
        yield piece


# -- httpx against aiohttp's server ------------------------------------------------------


@ONE_BACKEND
def test_httpx_client_against_aiohttp_server(runner: LoopRunner) -> None:
    async def echo_digest(request: web.Request) -> web.Response:
        runner.check()
        digest, size = hashlib.sha256(), 0
        async for piece in request.content.iter_any():
            digest.update(piece)
            size += len(piece)
        return web.json_response({"size": size, "sha256": digest.hexdigest()})

    async def numbered(request: web.Request) -> web.Response:
        await asyncio.sleep(0.005)
        return web.Response(text=request.match_info["n"])

    async def download(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in pattern(BIG, seed=12):
            await response.write(piece)
        await response.write_eof()
        return response

    app = web.Application(client_max_size=2 * BIG)
    app.router.add_post("/digest", echo_digest)
    app.router.add_get("/n/{n}", numbered)
    app.router.add_get("/download", download)

    async def main() -> None:
        app_runner = web.AppRunner(app)
        await app_runner.setup()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{listener.getsockname()[1]}"
        await web.SockSite(app_runner, listener).start()
        try:
            limits = httpx.Limits(max_connections=20)
            async with httpx.AsyncClient(base_url=base, limits=limits) as client:
                response = await client.post("/digest", content=_upload_body())
                assert response.json() == {"size": BIG, "sha256": pattern_digest(BIG, seed=11)}
                digest, size = hashlib.sha256(), 0
                async with client.stream("GET", "/download") as streamed:
                    assert streamed.headers["transfer-encoding"] == "chunked"
                    async for piece in streamed.aiter_bytes():
                        digest.update(piece)
                        size += len(piece)
                assert (size, digest.hexdigest()) == (BIG, pattern_digest(BIG, seed=12))
                replies = await asyncio.gather(*(client.get(f"/n/{i}") for i in range(200)))
                assert [r.text for r in replies] == [str(i) for i in range(200)]
        finally:
            await app_runner.cleanup()

    before = runner.checks
    runner.run(main)
    assert runner.checks == before + 2  # main, and the one /digest handler


# -- uvicorn serving an ASGI app, httpx as the client --------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class App:
    """A small ASGI 3 application: lifespan, a body digest, a streamed response."""

    def __init__(self, runner: LoopRunner) -> None:
        self.runner = runner
        self.lifespan: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.runner.check()
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].removeprefix("lifespan.")
                self.lifespan.append(kind)
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        assert scope["type"] == "http"
        if scope["path"] == "/digest":
            digest, size, more = hashlib.sha256(), 0, True
            while more:
                message = await receive()
                digest.update(message.get("body", b""))
                size += len(message.get("body", b""))
                more = message.get("more_body", False)
            body = json.dumps({"size": size, "sha256": digest.hexdigest()}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
        elif scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for piece in pattern(BIG, seed=5):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await asyncio.sleep(0.005)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": scope["path"].encode()})


@ONE_BACKEND
def test_uvicorn_asgi_app_with_httpx(runner: LoopRunner) -> None:
    app = App(runner)

    async def main() -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", http="h11"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), serving
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                response = await client.post("/digest", content=_upload_body())
                assert response.json() == {"size": BIG, "sha256": pattern_digest(BIG, seed=11)}
                async with client.stream("GET", "/stream") as streamed:
                    digest = hashlib.sha256()
                    async for piece in streamed.aiter_bytes():
                        digest.update(piece)
                assert digest.hexdigest() == pattern_digest(BIG, seed=5)
                replies = await asyncio.gather(*(client.get(f"/p{i}") for i in range(100)))
                assert [r.text for r in replies] == [f"/p{i}" for i in range(100)]
        finally:
            server.should_exit = True
            await serving
        assert app.lifespan == ["startup", "shutdown"]

    runner.run(main)
