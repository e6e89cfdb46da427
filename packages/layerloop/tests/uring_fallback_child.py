"""Run in a child process: deny io_uring_setup with a seccomp filter, then report as
JSON what ``layerloop.new_event_loop(backend="uring")`` does about it.

Usage: python uring_fallback_child.py ERRNO_NAME
"""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import sys
import warnings

import layerloop
from layerloop_proactor import deny_io_uring_setup


async def _echo() -> bool:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    running = asyncio.get_running_loop()
    try:
        await running.sock_sendall(a, b"ping")
        return await running.sock_recv(b, 4) == b"ping"
    finally:
        a.close()
        b.close()


def main() -> None:
    deny_io_uring_setup(getattr(errno, sys.argv[1]))
    report: dict[str, object] = {}
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        loop = layerloop.new_event_loop(backend="uring")
        try:
            report["fallback_backend"] = loop.backend.name
            report["fallback_works"] = loop.run_until_complete(_echo())
        finally:
            loop.close()
    report["warnings"] = [(w.category.__name__, str(w.message)) for w in seen]
    with warnings.catch_warnings():
        warnings.simplefilter("error", layerloop.UringFallbackWarning)
        try:
            layerloop.new_event_loop(backend="uring").close()
            report["strict"] = "no error"
        except layerloop.UringFallbackWarning as exc:
            report["strict"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(report))


if __name__ == "__main__":
    main()
