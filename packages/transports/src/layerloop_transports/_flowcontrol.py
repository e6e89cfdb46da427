"""What the stream, datagram and pipe transports share: the protocol and the end of
the connection (:class:`OwnedTransport`), and write-buffer flow control
(:class:`FlowControlledTransport`).

Invariants the subclasses keep:

* ``_wsize`` counts the bytes accepted and not yet taken by the kernel, in whatever
  unit the transport reports from ``get_write_buffer_size``; the subclass updates it
  and calls :meth:`FlowControlledTransport._maybe_pause_protocol` after queueing and
  :meth:`FlowControlledTransport._maybe_resume_protocol` after a backend write
  reports, which is where CPython's transports compare it with the water marks.
* ``pause_writing`` and ``resume_writing`` alternate: ``_protocol_paused`` records
  which one ran last, and is flipped before the call, so a protocol that raises from
  it is not called again for the same crossing.
* ``_conn_lost`` is non-zero once the end of the connection is decided (the write
  pipe also drops writes once closing, with ``_conn_lost`` still 0, as CPython's
  does); each dropped write adds one to it (:meth:`FlowControlledTransport._drop_write`),
  and is logged once the count has reached :data:`CONNLOST_WRITE_WARN`.
* ``_lost_exc`` holds the exception ``connection_lost`` will get, from the moment the
  backend is asked to close until its completion callback runs
  :meth:`OwnedTransport._connection_gone`, which calls ``connection_lost`` once.

Both classes declare their fields in ``__slots__``; a subclass declares only its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final, cast

from ._fdowners import release_fd

__all__ = [
    "CONNLOST_WRITE_WARN",
    "DEFAULT_HIGH_WATER",
    "FlowControlledTransport",
    "OwnedTransport",
    "water_marks",
]

logger = logging.getLogger("asyncio")

#: Default high-water mark of a write buffer; the low-water mark defaults to a quarter.
DEFAULT_HIGH_WATER: Final = 64 * 1024
#: After this many writes to a lost connection, each further one logs a warning.
CONNLOST_WRITE_WARN: Final = 5


def water_marks(high: int | None, low: int | None, default_high: int) -> tuple[int, int]:
    """``(high, low)`` for ``set_write_buffer_limits(high, low)``: *high* defaults to
    *default_high* (or 4 * *low*), *low* to *high* // 4; ``ValueError`` unless
    ``high >= low >= 0``."""
    if high is None:
        high = default_high if low is None else 4 * low
    if low is None:
        low = high // 4
    if not high >= low >= 0:
        raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
    return high, low


class OwnedTransport(asyncio.BaseTransport):
    """A transport that owns one fd through a backend object: its loop, protocol,
    closing flag, and the ``connection_lost`` call once the backend has closed the fd.

    The subclass sets ``_fd`` and claims it in the loop's fd guard.
    """

    __slots__ = ("_closing", "_fd", "_loop", "_lost_exc", "_protocol")

    _fd: int

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.BaseProtocol) -> None:
        super().__init__()
        self._loop = loop
        # None once connection_lost has run (CPython's get_protocol() then says None).
        self._protocol: Any = protocol
        self._closing = False
        self._lost_exc: BaseException | None = None

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Deliver events to *protocol* from now on."""
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The current protocol (``None`` once the connection is lost, as in CPython)."""
        return cast(asyncio.BaseProtocol, self._protocol)

    def is_closing(self) -> bool:
        """Whether the transport is closing or closed."""
        return self._closing

    def _report(self, message: str, exc: BaseException) -> None:
        """Hand *exc* to the loop's exception handler with CPython's context keys."""
        self._loop.call_exception_handler(
            {
                "message": message,
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            }
        )

    def _connection_gone(self) -> None:
        """The backend has closed the fd: release its claim, then tell the protocol
        (with ``_lost_exc``), once."""
        release_fd(self._loop, self._fd, self)
        exc = self._lost_exc
        self._lost_exc = None
        protocol = self._protocol
        try:
            protocol.connection_lost(exc)
        finally:
            self._protocol = None


class FlowControlledTransport(OwnedTransport, asyncio.WriteTransport):
    """An :class:`OwnedTransport` with a write buffer: the water marks, the calls to
    ``pause_writing``/``resume_writing`` around them, and the writes after the
    connection is lost.  The subclass implements :meth:`_force_close`."""

    __slots__ = ("_conn_lost", "_high_water", "_low_water", "_protocol_paused", "_wsize")

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.BaseProtocol) -> None:
        super().__init__(loop, protocol)
        self._conn_lost = 0
        self._wsize = 0
        self._protocol_paused = False
        self._high_water = DEFAULT_HIGH_WATER
        self._low_water = DEFAULT_HIGH_WATER // 4

    def get_write_buffer_size(self) -> int:
        """Bytes accepted by the transport that the kernel has not taken yet."""
        return self._wsize

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """``(low, high)`` water marks of the write buffer."""
        return (self._low_water, self._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the water marks: *high* defaults to 64 KiB (or 4 * *low*), *low* to
        *high* // 4; ``ValueError`` unless ``high >= low >= 0``."""
        self._high_water, self._low_water = water_marks(high, low, DEFAULT_HIGH_WATER)
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if self._wsize <= self._high_water or self._protocol_paused:
            return
        self._protocol_paused = True
        try:
            self._protocol.pause_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report("protocol.pause_writing() failed", exc)

    def _maybe_resume_protocol(self) -> None:
        if not self._protocol_paused or self._wsize > self._low_water:
            return
        self._protocol_paused = False
        try:
            self._protocol.resume_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report("protocol.resume_writing() failed", exc)

    def _drop_write(self, warning: str) -> None:
        """Count a write made after the connection was lost (its data is dropped);
        from the :data:`CONNLOST_WRITE_WARN`-th on, log *warning*."""
        if self._conn_lost >= CONNLOST_WRITE_WARN:
            logger.warning(warning)
        self._conn_lost += 1

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        """Lose the connection with *exc*: an ``OSError`` (the peer, the network) is
        only logged in debug mode, anything else goes to the exception handler."""
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._report(message, exc)
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        """Drop the queue and close at once; ``connection_lost(exc)`` follows."""
        raise NotImplementedError
