"""The subprocess transport: a child spawned with :class:`subprocess.Popen` over pipes we
create, its pipes driven by the loop's own pipe transports (``connect_read_pipe``/
``connect_write_pipe``), its exit reported by a :mod:`._watch` watch.

Invariants:

* Protocol callbacks go through :meth:`SubprocessTransport._call`: until
  ``connection_made`` has been scheduled (after every pipe is connected) they are
  queued, so the protocol never hears of a pipe or an exit before it is connected.
* ``connection_lost`` is scheduled exactly once, when the exit is known *and* every
  pipe transport is lost; ``_wait()`` (what ``asyncio.subprocess.Process.wait`` awaits)
  returns after it.
* The pid is signalled only while the child is not reaped (``_returncode is None``):
  reaping happens on the loop's thread (see :mod:`._watch`), so a signal can never hit
  a reused pid.  After ``connection_lost`` every signal method raises
  ``ProcessLookupError``, as with CPython's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal as _signal
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import IO, Any

from ._watch import ChildWatch, watch_child

__all__ = ["SubprocessTransport"]

logger = logging.getLogger("asyncio")

_PIPE = subprocess.PIPE


class _PipeProtocol(asyncio.Protocol):
    """The protocol of one pipe transport: forwards to the subprocess transport."""

    __slots__ = ("disconnected", "fd", "owner", "pipe")

    def __init__(self, owner: SubprocessTransport, fd: int) -> None:
        self.owner: SubprocessTransport | None = owner
        self.fd = fd
        self.pipe: asyncio.BaseTransport | None = None
        self.disconnected = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} fd={self.fd} pipe={self.pipe!r}>"

    def itself(self) -> _PipeProtocol:
        """The protocol factory handed to ``connect_*_pipe``."""
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.pipe = transport

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        if owner is not None:
            owner._call(owner._protocol.pipe_data_received, self.fd, data)

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        owner = self.owner
        if owner is not None:
            owner._protocol.pause_writing()

    def resume_writing(self) -> None:
        owner = self.owner
        if owner is not None:
            owner._protocol.resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.disconnected = True
        owner = self.owner
        self.owner = None
        if owner is not None:
            owner._pipe_lost(self.fd, exc)


class SubprocessTransport(asyncio.SubprocessTransport):
    """A child process as an :class:`asyncio.SubprocessTransport`.

    Made by ``loop.subprocess_exec``/``subprocess_shell``: spawns the child at once
    (raising what :class:`subprocess.Popen` raises, with every pipe closed), then
    connects its pipes in a task and resolves *waiter* once ``connection_made`` is
    scheduled.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_exit_waiters",
        "_finished",
        "_info",
        "_loop",
        "_pending",
        "_pid",
        "_pipes",
        "_proc",
        "_protocol",
        "_returncode",
        "_watch",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.SubprocessProtocol,
        args: Any,
        *,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        waiter: asyncio.Future[None],
        popen_kwargs: dict[str, Any],
        use_pidfd: bool = True,
    ) -> None:
        super().__init__()
        # Set first: __del__ must find a consistent object if spawning fails.
        self._closed = True
        self._loop: asyncio.AbstractEventLoop | None = loop
        self._protocol: Any = protocol
        self._proc: subprocess.Popen[bytes] | None = None
        self._returncode: int | None = None
        self._exit_waiters: list[asyncio.Future[int]] | None = []
        self._pending: list[tuple[Callable[..., object], tuple[Any, ...]]] | None = []
        self._finished = False
        self._watch: ChildWatch | None = None
        self._pipes: dict[int, _PipeProtocol | None] = {}
        self._info: dict[str, Any] = {}
        # Our ends (parent side) and the child's ends of the pipes we create.
        ours: dict[int, int] = {}
        theirs: list[int] = []
        std: list[Any] = [stdin, stdout, stderr]
        try:
            for fd in (0, 1, 2):
                if std[fd] == _PIPE:
                    read_end, write_end = os.pipe()  # both close-on-exec
                    if fd == 0:
                        ours[0], child_end = write_end, read_end
                    else:
                        ours[fd], child_end = read_end, write_end
                    theirs.append(child_end)
                    std[fd] = child_end
                    self._pipes[fd] = None
            proc = subprocess.Popen(
                args,
                shell=shell,
                stdin=std[0],
                stdout=std[1],
                stderr=std[2],
                universal_newlines=False,
                bufsize=0,
                **popen_kwargs,
            )
        except BaseException:
            for end in (*ours.values(), *theirs):
                os.close(end)
            raise
        # The child has its copies: ours would keep its pipes open after it exits.
        for end in theirs:
            os.close(end)
        self._closed = False
        self._proc = proc
        self._pid = proc.pid
        self._info["subprocess"] = proc
        # The pipe objects, as Popen would have made them (and as CPython exposes them).
        files: dict[int, IO[bytes]] = {}
        for fd, end in ours.items():
            files[fd] = open(end, "wb" if fd == 0 else "rb", buffering=0)  # noqa: SIM115
        proc.stdin = files.get(0)
        proc.stdout = files.get(1)
        proc.stderr = files.get(2)
        self._watch = watch_child(loop, self._pid, self._exited, use_pidfd=use_pidfd)
        if loop.get_debug():
            logger.debug("process %r created: pid %s", args, self._pid)
        loop.create_task(self._connect_pipes(files, waiter))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``subprocess``: the :class:`subprocess.Popen` object; else *default*."""
        return self._info.get(name, default)

    def __repr__(self) -> str:
        parts = [type(self).__name__]
        if self._closed:
            parts.append("closed")
        if getattr(self, "_pid", None) is not None:
            parts.append(f"pid={self._pid}")
        if self._returncode is not None:
            parts.append(f"returncode={self._returncode}")
        elif getattr(self, "_pid", None) is not None:
            parts.append("running")
        for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
            proto = self._pipes.get(fd) if hasattr(self, "_pipes") else None
            if proto is not None:
                parts.append(f"{name}={proto.pipe!r}")
        return f"<{' '.join(parts)}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            # The loop may be closed already: the kill is what matters.
            with contextlib.suppress(Exception):
                self.close()

    async def _connect_pipes(
        self, files: dict[int, IO[bytes]], waiter: asyncio.Future[None]
    ) -> None:
        loop = self._loop
        assert loop is not None
        connected = 0
        try:
            for fd, file in files.items():
                # Registered first: a pipe transport made by a connect that then fails
                # is still closed by close().
                proto = self._pipes[fd] = _PipeProtocol(self, fd)
                if fd == 0:
                    await loop.connect_write_pipe(proto.itself, file)
                else:
                    await loop.connect_read_pipe(proto.itself, file)
                connected += 1
            loop.call_soon(self._protocol.connection_made, self)
            pending = self._pending
            self._pending = None
            if pending:
                for callback, args in pending:
                    loop.call_soon(callback, *args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            # Pipes that never got a transport are closed here and count as lost, so
            # the transport can still finish once the child is gone.
            for index, (fd, file) in enumerate(files.items()):
                unconnected = self._pipes.get(fd)
                if index >= connected and (unconnected is None or unconnected.pipe is None):
                    file.close()
                    if unconnected is None:
                        unconnected = self._pipes[fd] = _PipeProtocol(self, fd)
                    unconnected.owner = None
                    unconnected.disconnected = True
            # The protocol was never connected, so it hears nothing; the end is still
            # tracked (``_wait`` returns after the child is reaped).
            pending = self._pending or []
            self._pending = None
            self._protocol = asyncio.SubprocessProtocol()
            if any(callback == self._connection_lost for callback, _ in pending):
                loop.call_soon(self._connection_lost)
            else:
                self._try_finish()
            if not waiter.cancelled():
                waiter.set_exception(exc)
        else:
            if not waiter.cancelled():
                waiter.set_result(None)

    # -- events --------------------------------------------------------------------

    def _call(self, callback: Callable[..., object], *args: Any) -> None:
        pending = self._pending
        if pending is not None:
            pending.append((callback, args))
        elif self._loop is not None:
            self._loop.call_soon(callback, *args)

    def _pipe_lost(self, fd: int, exc: BaseException | None) -> None:
        self._call(self._protocol.pipe_connection_lost, fd, exc)
        self._try_finish()

    def _exited(self, returncode: int | None) -> None:
        """The watch's report: the child is reaped (``None``: not by us)."""
        self._watch = None
        loop = self._loop
        if loop is None:
            return
        proc = self._proc
        if returncode is None:
            if proc is not None and proc.returncode is not None:
                returncode = proc.returncode  # Popen reaped it (poll, kill, wait)
            else:
                logger.warning(
                    "child process pid %d exit status already read: will report returncode 255",
                    self._pid,
                )
                returncode = 255
        if loop.get_debug():
            logger.info("%r exited with return code %r", self, returncode)
        self._returncode = returncode
        if proc is not None and proc.returncode is None:
            # Popen would warn in __del__ about a child it thinks is running.
            proc.returncode = returncode
        self._call(self._protocol.process_exited)
        self._try_finish()

    def _try_finish(self) -> None:
        if self._finished or self._returncode is None:
            return
        for proto in self._pipes.values():
            if proto is None or not proto.disconnected:
                return
        self._finished = True
        self._call(self._connection_lost)

    def _connection_lost(self) -> None:
        try:
            self._protocol.connection_lost(None)
        finally:
            waiters = self._exit_waiters
            self._exit_waiters = None
            if waiters:
                for waiter in waiters:
                    if not waiter.cancelled():
                        waiter.set_result(self._returncode)  # type: ignore[arg-type]
            self._loop = None
            self._proc = None
            self._protocol = None

    async def _wait(self) -> int:
        """Return the returncode once the transport is finished (``connection_lost`` has
        run): what ``asyncio.subprocess.Process.wait`` awaits."""
        if self._exit_waiters is None or self._loop is None:
            assert self._returncode is not None
            return self._returncode
        waiter: asyncio.Future[int] = self._loop.create_future()
        self._exit_waiters.append(waiter)
        return await waiter

    # -- the SubprocessTransport API ---------------------------------------------------

    def get_pid(self) -> int:
        return self._pid

    def get_returncode(self) -> int | None:
        return self._returncode

    def get_pipe_transport(self, fd: int) -> asyncio.BaseTransport | None:
        proto = self._pipes.get(fd)
        return None if proto is None else proto.pipe

    def is_closing(self) -> bool:
        return self._closed

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    def _live_proc(self) -> subprocess.Popen[bytes]:
        proc = self._proc
        if proc is None:
            raise ProcessLookupError()
        return proc

    def send_signal(self, signal: int) -> None:
        """Send *signal* to the child; nothing once it has exited, and
        ``ProcessLookupError`` once the transport is finished."""
        proc = self._live_proc()
        if self._returncode is not None:
            return  # reaped: the pid may belong to another process by now
        if sys.platform == "win32":
            proc.send_signal(signal)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal)

    def terminate(self) -> None:
        """``SIGTERM`` (as :meth:`send_signal`)."""
        if sys.platform == "win32":
            self._live_proc().terminate()
        else:
            self.send_signal(_signal.SIGTERM)

    def kill(self) -> None:
        """``SIGKILL`` (as :meth:`send_signal`)."""
        if sys.platform == "win32":
            self._live_proc().kill()
        else:
            self.send_signal(_signal.SIGKILL)

    def close(self) -> None:
        """Close the pipes and kill the child if it is still running; the exit is still
        reported (``process_exited``, then ``connection_lost``)."""
        if self._closed:
            return
        self._closed = True
        proc = self._proc
        # Popen.poll reaps a child that exited unnoticed (the watch then finds it
        # reaped and takes Popen's returncode), so the kill cannot hit a reused pid.
        if proc is not None and self._returncode is None and proc.poll() is None:
            loop = self._loop
            if loop is not None and loop.get_debug():
                logger.warning("Close running child process: kill %r", self)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                proc.kill()
        # After the kill: a child that sees its stdin close may exit by itself first,
        # and the backend closes a pipe's fd at once.
        for proto in self._pipes.values():
            if proto is not None and proto.pipe is not None:
                proto.pipe.close()
