"""The I/O benchmarks: a server on the loop under test, a client in another process.

The server side is ordinary asyncio code (a ``Protocol``, a ``BufferedProtocol``,
asyncio streams, a datagram protocol, a small HTTP/1.1 server), the same for every loop.
The client is the same program for every loop: :mod:`._client` (plain sockets and
:mod:`selectors`, one thread) for the echo cases, ``wrk`` for HTTP.  It runs in its own
process and times itself, over the round trips only; the server loop runs until the
client process has exited (checked every 20 ms, a negligible load on the loop).

A case whose feature the loop lacks (``create_datagram_endpoint`` or ``ssl=`` not built
yet, ``wrk`` or ``openssl`` not installed) raises :class:`CaseUnavailable`, which the
report shows as "unavailable" for that case and loop only.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

__all__ = ["CONNECTIONS", "IO_CASES", "IO_MINIMUM", "CaseUnavailable", "IoCaseSpec"]

Result = tuple[int, float]

#: Concurrent client connections (or UDP sockets) of the echo benchmarks.
CONNECTIONS = 10
#: Fewest round trips in one run of an echo case (100 per connection): a shorter run
#: measures the first round trips of fresh connections and a fresh client process,
#: which are slower and far noisier than the steady state.
IO_MINIMUM = 100 * CONNECTIONS
#: Connections wrk keeps open against the HTTP server.
HTTP_CONNECTIONS = 32
#: The client's path: run as a script, so that it imports nothing from layerloop.
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_client.py")
#: How often the server side checks whether the client process has finished.
POLL_INTERVAL = 0.02
CLIENT_TIMEOUT = 240.0

#: CPU seconds (user + system) the server process spent per operation in the last
#: finished run, measured over the client's whole life: the loop's own cost, which a
#: loaded machine inflates far less than it inflates the round-trip latency.
last_server_cpu_per_op: float | None = None


_cpu_seconds = time.process_time  # user + system, every thread of this process


class CaseUnavailable(Exception):
    """This benchmark cannot run on this loop or machine (a missing feature or tool)."""


# -- the echo servers ---------------------------------------------------------------------


class EchoProtocol(asyncio.Protocol):
    __slots__ = ("transport",)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class EchoBufferedProtocol(asyncio.BufferedProtocol):
    """Reads into one buffer per connection and writes back a view of what came in."""

    __slots__ = ("buffer", "transport", "view")

    def __init__(self) -> None:
        self.buffer = bytearray(256 * 1024)
        self.view = memoryview(self.buffer)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        # Every loop measured copies what it cannot send at once, so the view may be
        # reused by the next read.
        self.transport.write(self.view[:nbytes])


class EchoDatagramProtocol(asyncio.DatagramProtocol):
    __slots__ = ("transport",)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, addr)


async def _stream_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"
)


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, answering every request with the same small response:
    the request head is found by its blank line, the request body is not supported (wrk
    sends GETs)."""

    __slots__ = ("pending", "transport")

    def __init__(self) -> None:
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        pending = self.pending + data if self.pending else data
        answers = pending.count(b"\r\n\r\n")
        if answers:
            self.transport.write(_RESPONSE * answers)
            pending = pending[pending.rindex(b"\r\n\r\n") + 4 :]
        self.pending = pending


# -- running a server against a client process ------------------------------------------


def _tls_server_context() -> Any:
    """A server context with a throwaway certificate made by the ``openssl`` command."""
    import ssl  # noqa: PLC0415

    openssl = shutil.which("openssl")
    if openssl is None:
        raise CaseUnavailable("the openssl command is not installed (needed for a certificate)")
    with tempfile.TemporaryDirectory() as tmp:
        key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
             "-days", "1", "-subj", "/CN=localhost"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    return context


_tls_context: Any = None


def _server_tls() -> Any:
    global _tls_context  # one certificate per process is plenty
    if _tls_context is None:
        _tls_context = _tls_server_context()
    return _tls_context


def _unavailable_feature(exc: BaseException, what: str) -> CaseUnavailable:
    return CaseUnavailable(f"{what}: {type(exc).__name__}: {exc}")


async def _start(kind: str, api: str, loop: asyncio.AbstractEventLoop) -> tuple[Any, str, Any]:
    """Start the server; returns (what to close, the address for the client, a temp dir)."""
    tmpdir = None
    if kind == "udp":
        try:
            transport, _ = await loop.create_datagram_endpoint(
                EchoDatagramProtocol, local_addr=("127.0.0.1", 0)
            )
        except NotImplementedError as exc:
            raise _unavailable_feature(exc, "create_datagram_endpoint") from None
        host, port = transport.get_extra_info("sockname")[:2]
        return transport, f"{host}:{port}", None
    ssl_context = _server_tls() if kind == "tls" else None
    server: Any
    factory: Callable[[], asyncio.BaseProtocol] = {
        "protocol": EchoProtocol,
        "buffered": EchoBufferedProtocol,
        "http": HttpProtocol,
        "streams": EchoProtocol,  # not used: streams go through asyncio.start_server
    }[api]
    try:
        if kind == "unix":
            tmpdir = tempfile.TemporaryDirectory()
            path = os.path.join(tmpdir.name, "echo.sock")
            server = await loop.create_unix_server(factory, path)
            return server, path, tmpdir
        if api == "streams":
            server = await asyncio.start_server(_stream_echo, "127.0.0.1", 0, ssl=ssl_context)
        else:
            server = await loop.create_server(factory, "127.0.0.1", 0, ssl=ssl_context)
    except NotImplementedError as exc:
        raise _unavailable_feature(exc, "ssl=" if ssl_context else "server") from None
    host, port = server.sockets[0].getsockname()[:2]
    return server, f"{host}:{port}", tmpdir


async def _serve_while(proc: subprocess.Popen[str]) -> None:
    while proc.poll() is None:
        await asyncio.sleep(POLL_INTERVAL)


def _run_against(
    loop: asyncio.AbstractEventLoop,
    kind: str,
    api: str,
    command: Callable[[str], list[str]],
    parse: Callable[[str], Result],
) -> Result:
    global last_server_cpu_per_op  # read by the child after the run
    last_server_cpu_per_op = None
    cpu = [0.0]

    async def main() -> str:
        closer, address, tmpdir = await _start(kind, api, loop)
        try:
            proc = subprocess.Popen(
                command(address), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            try:
                cpu[0] = -_cpu_seconds()
                await asyncio.wait_for(_serve_while(proc), CLIENT_TIMEOUT)
                cpu[0] += _cpu_seconds()
            finally:
                if proc.poll() is None:
                    proc.kill()
                out, err = proc.communicate()
            if proc.returncode != 0:
                tail = (err.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"client exit status {proc.returncode}: {tail}")
            return out
        finally:
            closer.close()
            for _ in range(3):  # let the connections the client dropped finish closing
                await asyncio.sleep(0)
            if tmpdir is not None:
                tmpdir.cleanup()

    ops, seconds = parse(loop.run_until_complete(main()))
    if ops:
        last_server_cpu_per_op = cpu[0] / ops
    return ops, seconds


def _parse_client(output: str) -> Result:
    payload = json.loads(output.strip().splitlines()[-1])
    return int(payload["ops"]), float(payload["elapsed"])


_WRK_REQUESTS = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b")
_WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _parse_wrk(output: str) -> Result:
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw errors: {' '.join(output.split())}")
    match = _WRK_REQUESTS.search(output)
    if match is None:
        raise RuntimeError(f"unexpected wrk output: {output!r}")
    return int(match[1]), float(match[2]) * _WRK_UNITS[match[3]]


def echo(kind: str, api: str, size: int, loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """*n* lock-step round trips of *size* bytes, shared by :data:`CONNECTIONS`."""

    def command(address: str) -> list[str]:
        return [sys.executable, CLIENT, kind, address, str(CONNECTIONS), str(size), str(n)]

    return _run_against(loop, kind, api, command, _parse_client)


def http_wrk(loop: asyncio.AbstractEventLoop, milliseconds: int) -> Result:
    """``wrk`` for *milliseconds* (whole seconds, at least one) against :class:`HttpProtocol`."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise CaseUnavailable("wrk is not installed (Debian: apt-get install wrk)")
    seconds = max(1, round(milliseconds / 1000))

    def command(address: str) -> list[str]:
        return [wrk, "-t1", f"-c{HTTP_CONNECTIONS}", f"-d{seconds}s", f"http://{address}/"]

    return _run_against(loop, "tcp", "http", command, _parse_wrk)


class IoCaseSpec:
    """What :mod:`._cases` needs to list an I/O case."""

    __slots__ = ("description", "name", "payload", "run", "timed")

    def __init__(
        self,
        name: str,
        run: Callable[[asyncio.AbstractEventLoop, int], Result],
        payload: int,
        description: str,
        *,
        timed: bool = False,
    ) -> None:
        self.name = name
        self.run = run
        self.payload = payload
        self.description = description
        self.timed = timed


def _echo_spec(kind: str, api: str, size: int, what: str) -> IoCaseSpec:
    label = f"{size // 1024}k"
    name = f"{kind}_{api}_{label}" if kind in ("tcp", "unix") else f"{kind}_{label}"
    return IoCaseSpec(
        name,
        functools.partial(echo, kind, api, size),
        size,
        f"{what}, {label}iB messages, {CONNECTIONS} clients",
    )


IO_CASES: list[IoCaseSpec] = [
    *(
        _echo_spec("tcp", api, size, f"TCP echo, {what}")
        for api, what in (
            ("protocol", "Protocol"),
            ("streams", "asyncio streams"),
            ("buffered", "BufferedProtocol"),
        )
        for size in (1024, 10 * 1024, 100 * 1024)
    ),
    _echo_spec("unix", "protocol", 1024, "Unix socket echo, Protocol"),
    _echo_spec("udp", "protocol", 1024, "UDP echo, DatagramProtocol"),
    _echo_spec("tls", "protocol", 1024, "TLS echo, Protocol"),
    IoCaseSpec(
        "http_wrk",
        http_wrk,
        0,
        f"HTTP/1.1 keep-alive Protocol server under wrk -c{HTTP_CONNECTIONS}",
        timed=True,
    ),
]
