"""The subprocess benchmarks: spawning a child and moving bytes through its pipes.

Both go through ``asyncio.create_subprocess_exec`` and ``asyncio.subprocess.Process``
(streams over the loop's pipe transports), the API programs use, the same code for
every loop.  The programs are the system's ``true`` and ``cat``, found on ``PATH``
before the clock starts and run by absolute path, so no loop pays for a ``PATH`` search.

* ``subprocess_spawn``: spawn ``true`` and wait for its exit, one child at a time.  It
  measures fork/exec, the pipe-less transport's setup and how fast the loop learns of
  the exit (asyncio on 3.11: a waiting thread per child; 3.12+: a pidfd; uvloop: SIGCHLD
  through libuv; layerloop: a pidfd, or a waiting thread on older kernels).
* ``subprocess_cat``: stream *n* MiB through one ``cat`` (a feeder task writes 1 MiB
  chunks with ``drain()``, the main task reads ``stdout`` until EOF); the clock runs
  from the first write to the child's exit, so spawning is not counted.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable

from ._io_cases import CaseUnavailable

__all__ = ["PROCESS_CASES", "CaseSpec"]

Result = tuple[int, float]
#: (name, run, minimum operations, target vs asyncio, description, payload bytes per op)
CaseSpec = tuple[str, Callable[[asyncio.AbstractEventLoop, int], Result], int, float, str, int]

#: Fewest spawns in one run: the harness sizes a run from its first one, and a process's
#: first spawns are slower than the rest.
SPAWN_MINIMUM = 20
#: Bytes per operation of the ``cat`` benchmark, and per write.
MIB = 1 << 20
#: Fewest MiB in one ``cat`` run: shorter runs are dominated by the pipes' warm-up.
CAT_MINIMUM = 64
#: What the reader asks ``StreamReader.read`` for at a time.
READ_SIZE = 1 << 20


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise CaseUnavailable(f"the {name!r} program is not on PATH")
    return path


def subprocess_spawn(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """``await (await asyncio.create_subprocess_exec("true")).wait()``, n times."""
    program = _program("true")

    async def main() -> float:
        spawn = asyncio.create_subprocess_exec
        started = time.perf_counter()
        for _ in range(n):
            process = await spawn(program)
            if await process.wait() != 0:
                raise RuntimeError(f"{program} exited with status {process.returncode}")
        return time.perf_counter() - started

    return n, loop.run_until_complete(main())


async def _feed(stdin: asyncio.StreamWriter, chunk: bytes, count: int) -> None:
    for _ in range(count):
        stdin.write(chunk)
        await stdin.drain()
    stdin.close()
    await stdin.wait_closed()


def subprocess_cat(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """n MiB written to ``cat``'s stdin while its stdout is read back, concurrently."""
    program = _program("cat")
    chunk = bytes(range(256)) * (MIB // 256)

    async def main() -> float:
        process = await asyncio.create_subprocess_exec(
            program, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert process.stdin is not None
        assert process.stdout is not None
        read = process.stdout.read
        received = 0
        started = time.perf_counter()
        feeding = asyncio.ensure_future(_feed(process.stdin, chunk, n))
        while data := await read(READ_SIZE):
            received += len(data)
        await feeding
        status = await process.wait()
        elapsed = time.perf_counter() - started
        if status != 0 or received != n * MIB:
            raise RuntimeError(f"cat exited with {status} after {received} of {n * MIB} bytes")
        return elapsed

    return n, loop.run_until_complete(main())


PROCESS_CASES: list[CaseSpec] = [
    (
        "subprocess_spawn",
        subprocess_spawn,
        SPAWN_MINIMUM,
        1.0,
        "create_subprocess_exec('true') + wait(), one at a time",
        0,
    ),
    (
        "subprocess_cat",
        subprocess_cat,
        CAT_MINIMUM,
        1.0,
        "MiB streamed through cat (stdin writes + stdout reads)",
        MIB,
    ),
]
