"""``loop.sendfile(transport, file, offset, count, fallback=True)``.

Two paths:

* **Zero-copy**, for a plain :class:`~._stream.StreamTransport`: reading is paused,
  writes are refused (``RuntimeError``, as CPython) while the transport's queue drains,
  then the backend sends the file with :meth:`layerloop_core.abc.Stream.sendfile` (the
  kernel copies from the page cache to the socket).  A cancelled ``sendfile`` cancels
  the backend operation with :meth:`~layerloop_core.abc.Stream.cancel_write` and waits
  for its report, so the file position is right.  If the backend refuses before the
  first byte (``SendfileNotAvailableError``: not a regular file, a kernel without
  ``sendfile``...), the fallback takes over when allowed.
* **Read and write**, for the TLS transport (``_tls.SSLTransport``): blocks of the
  file are read in the default executor and written with ``transport.write``, waiting
  for ``resume_writing`` whenever the transport asks the protocol to pause (its protocol
  is swapped for an observer for the duration, as CPython does).

Any other transport (datagram, pipes, subprocess, a transport from elsewhere) is
refused with CPython's ``RuntimeError``: CPython's loop decides the same way, by the
transport's own class, and only its socket and TLS transports take files.

In both, the file position is left just after the last byte sent (on return and on
error), and nothing is moved when nothing was sent.
"""

from __future__ import annotations

import asyncio
import io
import os
from typing import Any, Final

from ._stream import StreamTransport
from ._tls import SSLTransport

__all__ = ["sendfile"]

#: Size of the blocks the fallback reads and writes (CPython's).
FALLBACK_BLOCK: Final = 16 * 1024


def _check_arguments(file: Any, offset: Any, count: Any) -> None:
    """CPython's checks of ``sock_sendfile``, which its native path applies."""
    if "b" not in getattr(file, "mode", "b"):
        raise ValueError("file should be opened in binary mode")
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"count must be a positive integer (got {count!r})")
        if count <= 0:
            raise ValueError(f"count must be a positive integer (got {count!r})")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")


async def sendfile(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.WriteTransport,
    file: Any,
    offset: int = 0,
    count: int | None = None,
    *,
    fallback: bool = True,
) -> int:
    """Send *file* (from *offset*, *count* bytes or to the end) over *transport*."""
    if transport.is_closing():
        raise RuntimeError("Transport is closing")
    if isinstance(transport, StreamTransport):
        _check_arguments(file, offset, count)
        try:
            return await _send_native(transport, file, offset, count)
        except asyncio.SendfileNotAvailableError:
            if not fallback:
                raise
    elif not isinstance(transport, SSLTransport):
        raise RuntimeError(f"sendfile is not supported for transport {transport!r}")
    elif not fallback:
        raise RuntimeError(
            f"fallback is disabled and native sendfile is not supported for transport {transport!r}"
        )
    return await _send_by_copy(loop, transport, file, offset, count)


def _file_size(file: Any) -> tuple[int, int]:
    try:
        fileno = file.fileno()
    except (AttributeError, io.UnsupportedOperation) as exc:
        raise asyncio.SendfileNotAvailableError("not a regular file") from exc
    try:
        size = os.fstat(fileno).st_size
    except OSError as exc:
        raise asyncio.SendfileNotAvailableError("not a regular file") from exc
    return fileno, size


async def _send_native(
    transport: StreamTransport, file: Any, offset: int, count: int | None
) -> int:
    fileno, size = _file_size(file)
    wanted = count if count else max(0, size - offset)
    if transport._sendfile_waiter is not None:
        raise RuntimeError("Empty waiter is already set")
    loop = transport._loop
    resume_reading = transport.is_reading()
    transport.pause_reading()
    waiter: asyncio.Future[None] = loop.create_future()
    transport._sendfile_waiter = waiter
    if not transport._writing and not transport._wqueue:
        waiter.set_result(None)
    sent = 0
    try:
        await waiter
        if not wanted:
            return 0
        if transport._conn_lost:
            raise ConnectionError("Connection is closed by peer")
        report: asyncio.Future[tuple[int, BaseException | None]] = loop.create_future()
        stream = transport._stream
        stream.sendfile(fileno, offset, wanted, _Report(report))
        try:
            sent, error = await asyncio.shield(report)
        except asyncio.CancelledError:
            # The operation reports exactly once, also when cancelled: wait for the
            # count so that the file position is right.
            stream.cancel_write()
            sent, error = await report
            raise
        if error is not None:
            if isinstance(error, asyncio.CancelledError):
                # Not our cancel (that path re-raised above): the transport was
                # closed or aborted meanwhile, which cancelled the operation.
                raise ConnectionError("Connection is closed by peer")
            if not isinstance(error, asyncio.SendfileNotAvailableError):
                transport._fatal_error(error, "Fatal write error on socket transport")
            raise error
        return sent
    finally:
        if waiter.done() and not waiter.cancelled():
            waiter.exception()  # retrieved: the caller saw the failure another way
        transport._sendfile_waiter = None
        if sent > 0:
            file.seek(offset + sent)
        if resume_reading:
            transport.resume_reading()


class _Report:
    """The ``done`` of one :meth:`Stream.sendfile`, resolving a future."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[tuple[int, BaseException | None]]) -> None:
        self.future = future

    def __call__(self, nbytes: int, exc: BaseException | None, /) -> None:
        if not self.future.done():
            self.future.set_result((nbytes, exc))


class _WriteObserver(asyncio.Protocol):
    """Stands in for the transport's protocol while the fallback writes: it turns
    ``pause_writing``/``resume_writing`` into an awaitable and passes the end of the
    connection on to the real protocol."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self.transport = transport
        self.protocol = transport.get_protocol()
        self.loop = asyncio.get_running_loop()
        self.resume: asyncio.Future[None] | None = None
        self.lost = False
        # The transport is above its high-water mark already: the real protocol was
        # paused and must be resumed on restore.
        size = transport.get_write_buffer_size()
        self.should_resume = size > transport.get_write_buffer_limits()[1]
        reader = transport if isinstance(transport, asyncio.ReadTransport) else None
        self.reader = reader
        self.was_reading = reader is not None and reader.is_reading()
        if reader is not None:
            reader.pause_reading()
        transport.set_protocol(self)
        if self.should_resume:
            self.pause_writing()

    async def drain(self) -> None:
        if self.transport.is_closing() or self.lost:
            raise ConnectionError("Connection closed by peer")
        resume = self.resume
        if resume is not None:
            await resume

    def pause_writing(self) -> None:
        if self.resume is None:
            self.resume = self.loop.create_future()

    def resume_writing(self) -> None:
        resume = self.resume
        self.resume = None
        if resume is not None and not resume.done():
            resume.set_result(None)

    def data_received(self, data: bytes) -> None:
        raise RuntimeError("Invalid state: reading should be paused")

    def eof_received(self) -> bool:
        raise RuntimeError("Invalid state: reading should be paused")

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        resume = self.resume
        self.resume = None
        if resume is not None and not resume.done():
            resume.set_exception(ConnectionError("Connection closed by peer"))
            resume.exception()  # the drain that awaits it (if any) re-raises
        self.protocol.connection_lost(exc)

    def restore(self) -> None:
        self.transport.set_protocol(self.protocol)
        if self.lost:
            return
        if self.reader is not None and self.was_reading:
            self.reader.resume_reading()
        paused_now = self.resume is not None
        if paused_now and not self.should_resume:
            # Still above the high-water mark: the real protocol learns it now and
            # hears resume_writing from the transport later.
            self.protocol.pause_writing()
        elif not paused_now and self.should_resume:
            self.protocol.resume_writing()


async def _send_by_copy(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.WriteTransport,
    file: Any,
    offset: int,
    count: int | None,
) -> int:
    if offset:
        file.seek(offset)
    block = min(count, FALLBACK_BLOCK) if count else FALLBACK_BLOCK
    buffer = bytearray(block)
    sent = 0
    observer = _WriteObserver(transport)
    try:
        while True:
            if count:
                block = min(count - sent, block)
                if block <= 0:
                    return sent
            view = memoryview(buffer)[:block]
            nread = await loop.run_in_executor(None, file.readinto, view)
            if not nread:
                return sent
            await observer.drain()
            # A transport copies what it cannot send at once (the asyncio contract
            # CPython's fallback relies on too), so the buffer is reused.
            transport.write(view[:nread])
            sent += nread
    finally:
        if sent > 0 and hasattr(file, "seek"):
            file.seek(offset + sent)
        observer.restore()
