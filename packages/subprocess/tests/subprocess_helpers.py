"""Loops, protocols and process-table helpers shared by the subprocess tests."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import layerloop_core
from layerloop_subprocess import SubprocessMixin
from layerloop_transports import TransportsMixin


class SubprocessLoop(SubprocessMixin, TransportsMixin, layerloop_core.EventLoop):
    """What the meta-package assembles (pidfd watches where the kernel has them)."""


class ThreadWatchLoop(SubprocessLoop):
    """The same, watching every child with a waiting thread."""

    child_watch = "thread"


def is_ours(loop: asyncio.AbstractEventLoop) -> bool:
    return isinstance(loop, SubprocessLoop)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def zombie_children() -> list[int]:
    """Pids of our children that have exited and are not reaped."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z" and int(fields[1]) == me:
            found.append(int(entry))
    return found


def pid_alive(pid: int) -> bool:
    """Whether *pid* exists at all (running or a zombie)."""
    return os.path.exists(f"/proc/{pid}")


class Recorder(asyncio.SubprocessProtocol):
    """Records every callback in order."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.events: list[Any] = []
        self.data: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        self.transport: Any = None
        self.exited = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.data[fd] += data
        if not self.events or self.events[-1] != ("data", fd):
            self.events.append(("data", fd))

    def pipe_connection_lost(self, fd: int, exc: BaseException | None) -> None:
        self.events.append(("pipe_lost", fd, type(exc).__name__ if exc else None))

    def process_exited(self) -> None:
        self.events.append("exited")
        self.exited.set_result(self.transport.get_returncode())

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.lost.set_result(exc)
