"""Protocols, sizes and certificates shared by the reliability tests (``test_reliability_*``).

Sizes: the full-size runs (1 GiB streams, 10,000 connections) are expensive, so by
default one layerloop backend per Python gets them (``FULL_SIZE_BACKEND``: the backends
rotate with the Python minor version, so the three ``tests-3.X`` sessions cover every
backend) and every other loop, the asyncio oracles included, runs the same scenario on
a smaller size.  ``LAYERLOOP_SOAK=1`` gives every loop the full sizes (``nox -s soak``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

from layerloop_selector import available_backends
from transports_helpers import is_ours

#: Every loop runs the full sizes when this is set (soak runs, not the default command).
SOAK = os.environ.get("LAYERLOOP_SOAK", "") not in ("", "0")

#: The layerloop backend that streams the full size on this Python.
FULL_SIZE_BACKEND = available_backends()[sys.version_info.minor % len(available_backends())]

GIB = 1 << 30
MIB = 1 << 20


def full_or_small(loop: asyncio.AbstractEventLoop, full: int, small: int) -> int:
    """*full* on the backend chosen for this Python (or everywhere when soaking),
    *small* elsewhere."""
    if SOAK:
        return full
    if is_ours(loop) and loop.backend.name == FULL_SIZE_BACKEND:  # type: ignore[attr-defined]
        return full
    return small


def loop_label(loop: asyncio.AbstractEventLoop) -> str:
    if is_ours(loop):
        return f"layerloop-{loop.backend.name}"  # type: ignore[attr-defined]
    return f"asyncio-{type(loop._selector).__name__}"  # type: ignore[attr-defined]


class FlowEcho(asyncio.Protocol):
    """Echoes everything; stops reading while its own write buffer is above the
    high-water mark, so an echo of any length needs bounded memory."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.lost: list[BaseException | None] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def eof_received(self) -> bool:
        return False  # close: the transport flushes what is queued first

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.append(exc)


class HashingClient(asyncio.BufferedProtocol):
    """Reads into its own buffer and hashes what arrives; honours pause_writing."""

    def __init__(self, buffer_size: int = 256 * 1024) -> None:
        loop = asyncio.get_running_loop()
        self.transport: Any = None
        self.buffer = bytearray(buffer_size)
        self.view = memoryview(self.buffer)
        self.digest = hashlib.sha256()
        self.received = 0
        self.expected = -1
        self.complete: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[BaseException | None] = loop.create_future()
        self.got_eof = False
        self.paused = False
        self.resumed: asyncio.Future[None] | None = None
        self.lost_calls = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.digest.update(self.view[:nbytes])
        self.received += nbytes
        if self.received >= self.expected >= 0 and not self.complete.done():
            self.complete.set_result(None)

    def eof_received(self) -> None:
        self.got_eof = True

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        resumed = self.resumed
        if resumed is not None and not resumed.done():
            resumed.set_result(None)

    async def wait_writable(self) -> None:
        while self.paused:
            self.resumed = asyncio.get_running_loop().create_future()
            await self.resumed

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost_calls += 1
        if not self.closed.done():
            self.closed.set_result(exc)
        if not self.complete.done():
            self.complete.set_exception(
                AssertionError(f"lost after {self.received} of {self.expected} bytes: {exc!r}")
            )


def pattern_chunks(total: int, chunk_size: int = MIB) -> Any:
    """*total* bytes as chunks of *chunk_size* that all differ (each starts with its
    index), so a lost, repeated or reordered chunk changes the hash."""
    base = memoryview(hashlib.sha256(b"layerloop").digest() * (chunk_size // 32 + 1))
    index = 0
    left = total
    while left > 0:
        size = min(chunk_size, left)
        assert size >= 8
        yield index.to_bytes(8, "little") + base[: size - 8]
        index += 1
        left -= size


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost``/127.0.0.1, made now with the
    ``openssl`` command; returns (certificate, key) paths."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("the openssl command is needed to make a test certificate")
    cert = directory / "cert.pem"
    key = directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def tls_contexts(cert: Path, key: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts; the client verifies the server's certificate."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client
