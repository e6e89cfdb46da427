"""``subprocess_exec`` and ``subprocess_shell`` for a loop that has pipe transports."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar, cast

from ._transport import SubprocessTransport
from ._watch import orphan_watches

__all__ = ["SubprocessMixin"]

logger = logging.getLogger("asyncio")

_P = TypeVar("_P", bound=asyncio.BaseProtocol)
_PIPE = subprocess.PIPE


def _check_text_args(bufsize: object, encoding: object, errors: object, text: object) -> None:
    # CPython's checks, in its order, with its messages (shell is checked between).
    if bufsize != 0:
        raise ValueError("bufsize must be 0")
    if text:
        raise ValueError("text must be False")
    if encoding is not None:
        raise ValueError("encoding must be None")
    if errors is not None:
        raise ValueError("errors must be None")


class SubprocessMixin:
    """The subprocess methods of :class:`asyncio.AbstractEventLoop`, for a loop that
    implements ``connect_read_pipe``/``connect_write_pipe`` (``layerloop-transports``)::

        class EventLoop(SubprocessMixin, TransportsMixin, layerloop_core.EventLoop): ...

    Child exits are watched per child, with a pidfd where the kernel has them and a
    waiting thread otherwise; set :attr:`child_watch` to ``"thread"`` in a subclass to
    force the thread.  Closing the loop hands children still running to reaping
    threads, so none is left a zombie.
    """

    __slots__ = ()

    #: ``"auto"`` (a pidfd when usable, else a thread) or ``"thread"``.
    child_watch: ClassVar[Literal["auto", "thread"]] = "auto"

    async def _spawn(
        self,
        protocol: asyncio.SubprocessProtocol,
        args: Any,
        *,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        kwargs: dict[str, Any],
    ) -> SubprocessTransport:
        loop = cast(asyncio.AbstractEventLoop, self)
        waiter: asyncio.Future[None] = loop.create_future()
        transport = SubprocessTransport(
            loop,
            protocol,
            args,
            shell=shell,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            waiter=waiter,
            popen_kwargs=kwargs,
            use_pidfd=self.child_watch != "thread",
        )
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            # Cancelled (or a pipe failed): kill the child and wait until it is reaped.
            transport.close()
            await transport._wait()
            raise
        return transport

    async def subprocess_exec(
        self,
        protocol_factory: Callable[[], _P],
        program: Any,
        *args: Any,
        stdin: Any = _PIPE,
        stdout: Any = _PIPE,
        stderr: Any = _PIPE,
        universal_newlines: bool = False,
        shell: bool = False,
        bufsize: int = 0,
        encoding: str | None = None,
        errors: str | None = None,
        text: bool | None = None,
        **kwargs: Any,
    ) -> tuple[SubprocessTransport, _P]:
        """Run *program* with *args* (no shell); the other keywords go to
        :class:`subprocess.Popen`.  The protocol is a :class:`asyncio.SubprocessProtocol`."""
        if universal_newlines:
            raise ValueError("universal_newlines must be False")
        if shell:
            raise ValueError("shell must be False")
        _check_text_args(bufsize, encoding, errors, text)
        protocol = protocol_factory()
        if cast(asyncio.AbstractEventLoop, self).get_debug():
            logger.debug("execute program %r", program)
        transport = await self._spawn(
            cast(asyncio.SubprocessProtocol, protocol),
            (program, *args),
            shell=False,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            kwargs=kwargs,
        )
        return transport, protocol

    async def subprocess_shell(
        self,
        protocol_factory: Callable[[], _P],
        cmd: str | bytes,
        *,
        stdin: Any = _PIPE,
        stdout: Any = _PIPE,
        stderr: Any = _PIPE,
        universal_newlines: bool = False,
        shell: bool = True,
        bufsize: int = 0,
        encoding: str | None = None,
        errors: str | None = None,
        text: bool | None = None,
        **kwargs: Any,
    ) -> tuple[SubprocessTransport, _P]:
        """Run *cmd* through the shell; the other keywords go to
        :class:`subprocess.Popen`."""
        if not isinstance(cmd, (bytes, str)):
            raise ValueError("cmd must be a string")
        if universal_newlines:
            raise ValueError("universal_newlines must be False")
        if not shell:
            raise ValueError("shell must be True")
        _check_text_args(bufsize, encoding, errors, text)
        protocol = protocol_factory()
        if cast(asyncio.AbstractEventLoop, self).get_debug():
            logger.debug("run shell command %r", cmd)
        transport = await self._spawn(
            cast(asyncio.SubprocessProtocol, protocol),
            cmd,
            shell=True,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            kwargs=kwargs,
        )
        return transport, protocol

    def close(self) -> None:
        """Close the loop; children still running are handed to reaping threads."""
        loop = cast(asyncio.AbstractEventLoop, self)
        if not loop.is_running() and not loop.is_closed():
            orphan_watches(loop)
        super().close()  # type: ignore[misc]
