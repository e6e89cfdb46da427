"""tools/services.py leaves nothing behind: the server process is gone, its temporary
directory deleted and its port closed once the context manager exits."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from libs_support import INSTALL_SERVICES, unavailable
from tools import services

STARTERS: dict[str, Callable[..., AbstractContextManager[Any]]] = {
    "postgresql": services.postgres,
    "redis": services.redis,
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("name", sorted(STARTERS))
def test_server_is_torn_down(name: str) -> None:
    try:
        with STARTERS[name](install=INSTALL_SERVICES) as server:
            assert server.host == "127.0.0.1"
            assert _alive(server.pid)
            assert server.directory.is_dir()
            assert _accepts(server.port)
    except services.ServiceUnavailable as exc:
        unavailable(f"{name} unavailable: {exc}")
    assert not _alive(server.pid)
    assert not server.directory.exists()
    assert not _accepts(server.port)


def test_directories_of_dead_owners_are_swept() -> None:
    """A run ended by os._exit (pytest-timeout) leaves its directory; the next start
    deletes it, and never one whose owner still runs."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process now
    stale = Path(tempfile.mkdtemp(prefix="layerloop-redis-"))
    (stale / "owner.pid").write_text(str(dead.pid))
    live = Path(tempfile.mkdtemp(prefix="layerloop-redis-"))
    (live / "owner.pid").write_text(str(os.getpid()))
    try:
        with services.redis(install=INSTALL_SERVICES):
            assert not stale.exists()
            assert live.exists()
    except services.ServiceUnavailable as exc:
        unavailable(f"redis unavailable: {exc}")
    finally:
        for path in (stale, live):
            if path.exists():
                for child in path.iterdir():
                    child.unlink()
                path.rmdir()
