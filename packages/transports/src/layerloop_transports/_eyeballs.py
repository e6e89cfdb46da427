"""Happy eyeballs (RFC 8305): connection attempts started one after another, each
*delay* seconds after the previous one or as soon as the previous one fails, the first
to connect winning.

Invariants:

* Attempt *i* starts only after attempt *i - 1* started; it starts when *delay* has
  passed since that start, or at once when attempt *i - 1* has failed (a failure of an
  older attempt does not hurry the next one, as in CPython's loop).
* The first attempt that returns a socket wins; every other attempt is cancelled and
  awaited, so the sockets of the losers are closed (by the attempt's own cleanup, or
  here for a loser that connected in the same iteration) before the race returns.
* Cancelling the race cancels and awaits every attempt, then re-raises.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["staggered_connect"]

Attempt = Callable[[int], Coroutine[Any, Any, "socket.socket | None"]]


async def staggered_connect(
    loop: asyncio.AbstractEventLoop, attempt: Attempt, count: int, delay: float
) -> socket.socket | None:
    """Race ``attempt(0)`` .. ``attempt(count - 1)``, staggered by *delay* seconds.

    An attempt returns its connected socket, or ``None`` when it failed (it records its
    own errors); any exception it raises ends the race and is re-raised once every
    attempt is finished.  Returns the winning socket, or ``None`` when all failed.
    """
    tasks: list[asyncio.Task[socket.socket | None]] = []
    winner: socket.socket | None = None
    try:
        next_at = 0.0
        while True:
            for task in tasks:
                if task.done():
                    error = task.exception()
                    if error is not None:
                        raise error
                    winner = task.result()
                    if winner is not None:
                        return winner
            latest = tasks[-1] if tasks else None
            if len(tasks) < count and (latest is None or latest.done() or loop.time() >= next_at):
                tasks.append(loop.create_task(attempt(len(tasks))))
                next_at = loop.time() + delay
            running = [task for task in tasks if not task.done()]
            if not running:
                return None  # every attempt has failed
            timeout = None if len(tasks) >= count else max(0.0, next_at - loop.time())
            await asyncio.wait(running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await _settle_losers(tasks, winner)


async def _settle_losers(
    tasks: list[asyncio.Task[socket.socket | None]], winner: socket.socket | None
) -> None:
    """Cancel every attempt but the winner's and wait for them; close the socket of a
    loser that connected too late to win."""
    for task in tasks:
        task.cancel()
    # Shielded from a cancellation of the caller: the losers' sockets must be closed
    # before the race returns or raises.
    pending = [task for task in tasks if not task.done()]
    if pending:
        gathered = asyncio.gather(*pending, return_exceptions=True)
        try:
            await asyncio.shield(gathered)
        except asyncio.CancelledError:
            await gathered
            raise
    for task in tasks:
        if task.cancelled() or task.exception() is not None:
            continue
        sock = task.result()
        if sock is not None and sock is not winner:
            sock.close()
