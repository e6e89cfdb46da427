"""The name-resolution benchmarks: DNS lookups against a loopback DNS server.

``loop.getaddrinfo(name, 443, type=SOCK_STREAM)`` for distinct names under
``bench.test``, :data:`IN_FLIGHT` lookups at a time (a client connecting to many hosts),
answered by :mod:`._dns_server` (one A record, TTL 0) in a process of its own.

* ``dns_threaded``: each loop's own threaded lookup, ``socket.getaddrinfo`` (glibc) in a
  worker thread: asyncio's default executor, uvloop's libuv thread pool, layerloop's
  :class:`layerloop_dns.ThreadedResolver` (its default).
* ``dns_cares``: layerloop with :class:`layerloop_dns.CaresResolver` (c-ares driven by
  the loop, no thread) against the same asyncio and uvloop figures as above, so its
  ratios are thread-free layerloop over the others' threaded lookups.

glibc reads its servers from ``/etc/resolv.conf`` and always uses port 53, so a run
happens in a process of its own started under ``unshare -m -n`` (root, Linux): a
private network namespace with its own loopback, a ``resolv.conf`` bind-mounted over the
real one that names ``127.0.0.1``, the server on ``127.0.0.1:53``; nothing outside that
process sees any of it.  The loop the harness passes in is only looked at to build the
same kind of loop there (``python -m layerloop._bench._dns_cases LOOP RESOLVER N``).

No cache helps anyone: every lookup of a run asks a name of its own, the answers carry
a TTL of 0, and each run is a fresh process (fresh c-ares channels).  A warm-up of
distinct names (executor threads started, c-ares channels made) precedes the clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from ._io_cases import CaseUnavailable

__all__ = ["DNS_CASES", "IN_FLIGHT"]

Result = tuple[int, float]
CaseSpec = tuple[str, Callable[[asyncio.AbstractEventLoop, int], Result], int, float, str, int]

#: Lookups in flight at once.
IN_FLIGHT = 8
#: Warm-up lookups before the clock starts.
WARM_UP = 4 * IN_FLIGHT
SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_dns_server.py")
#: What the server answers (see :mod:`._dns_server`), checked before the clock starts.
ANSWER = "192.0.2.1"
RUN_TIMEOUT = 240.0
_RESOLV_CONF = "nameserver 127.0.0.1\noptions attempts:2 timeout:2\n"


def _namespace_problem() -> str | None:
    """Why the DNS benchmarks cannot run here, or ``None``."""
    if sys.platform != "linux":
        return "glibc's resolver is pointed at the bench server in a Linux network namespace"
    else:
        if os.geteuid() != 0:
            return "a private network namespace (unshare -m -n) and port 53 need root"
        for tool in ("unshare", "mount", "ip"):
            if shutil.which(tool) is None:
                return f"the {tool} command is not installed"
        return None


def _loop_kind(loop: asyncio.AbstractEventLoop) -> str:
    """The harness's name for *loop*: ``asyncio``, ``uvloop`` or ``layerloop-BACKEND``."""
    module = type(loop).__module__
    if module.startswith("uvloop"):
        return "uvloop"
    if module.startswith("layerloop"):
        return f"layerloop-{loop.backend.name}"  # type: ignore[attr-defined]
    if module.startswith("asyncio"):
        return "asyncio"
    raise CaseUnavailable(f"no DNS benchmark for a loop of type {type(loop).__qualname__}")


def _run_in_namespace(loop: asyncio.AbstractEventLoop, resolver: str, n: int) -> Result:
    problem = _namespace_problem()
    if problem is not None:
        raise CaseUnavailable(problem)
    command = ["unshare", "-m", "-n", sys.executable, "-m", __name__]
    command += [_loop_kind(loop), resolver, str(n)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    lines = done.stdout.strip().splitlines()
    try:
        payload = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        payload = {}
    if "unavailable" in payload:
        raise CaseUnavailable(payload["unavailable"])
    if done.returncode != 0 or "seconds" not in payload:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the DNS run failed (exit status {done.returncode}): {tail}")
    return int(payload["ops"]), float(payload["seconds"])


def dns_threaded(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """n lookups through each loop's threaded getaddrinfo."""
    return _run_in_namespace(loop, "threaded", n)


def dns_cares(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    """n lookups: layerloop through c-ares, asyncio and uvloop threaded as above."""
    return _run_in_namespace(loop, "cares", n)


DNS_CASES: list[CaseSpec] = [
    (
        "dns_threaded",
        dns_threaded,
        IN_FLIGHT,
        1.0,
        f"getaddrinfo of distinct names, {IN_FLIGHT} in flight, threaded (glibc)",
        0,
    ),
    (
        "dns_cares",
        dns_cares,
        IN_FLIGHT,
        1.0,
        "the same; layerloop with CaresResolver (no thread), the others threaded",
        0,
    ),
]


# -- inside the namespace -------------------------------------------------------------------


def _make_loop(kind: str, resolver: str) -> asyncio.AbstractEventLoop:
    if kind == "asyncio":
        return asyncio.new_event_loop()
    if kind == "uvloop":
        import uvloop  # noqa: PLC0415 - only in a uvloop run

        return uvloop.new_event_loop()
    import layerloop  # noqa: PLC0415 - only in a layerloop run
    import layerloop_dns  # noqa: PLC0415

    backend = kind.partition("-")[2] or "auto"
    chosen: Any
    if resolver == "cares":
        try:
            chosen = layerloop_dns.CaresResolver(servers=["127.0.0.1:53"])
        except ImportError as exc:
            raise CaseUnavailable(str(exc)) from None
        # The figure must be c-ares's, not its threaded fallback's.
        if not chosen.answers_by_dns("h0.bench.test", 443, 0, socket.SOCK_STREAM, 0, 0):
            chosen.close()
            raise RuntimeError("CaresResolver would hand the bench names to its fallback")
    else:
        chosen = layerloop_dns.ThreadedResolver()
    return layerloop.new_event_loop(backend, resolver=chosen)


async def _lookups(loop: asyncio.AbstractEventLoop, names: list[str]) -> float:
    """Resolve every name, :data:`IN_FLIGHT` at a time; seconds taken."""
    pending = iter(names)
    resolve = loop.getaddrinfo
    stream = socket.SOCK_STREAM

    async def worker() -> None:
        for name in pending:
            await resolve(name, 443, type=stream)

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(IN_FLIGHT)])
    return time.perf_counter() - started


async def _measure(loop: asyncio.AbstractEventLoop, n: int) -> float:
    answer = await loop.getaddrinfo("check.bench.test", 443, type=socket.SOCK_STREAM)
    if [entry[4][0] for entry in answer] != [ANSWER]:
        raise RuntimeError(f"the bench DNS server did not answer: {answer!r}")
    await _lookups(loop, [f"w{i}.warm.bench.test" for i in range(WARM_UP)])
    return await _lookups(loop, [f"h{i}.bench.test" for i in range(n)])


def _enter_private_resolver() -> subprocess.Popen[bytes]:
    """Loopback up, our resolv.conf in place, the server started; returns the server."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write(_RESOLV_CONF)
    subprocess.run(["mount", "--bind", conf.name, "/etc/resolv.conf"], check=True)
    os.unlink(conf.name)  # the mount keeps the file alive
    # Its stdin stays open as long as this process lives: the server exits at its end.
    server = subprocess.Popen(
        [sys.executable, "-I", SERVER, "127.0.0.1", "53"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    if server.stdout.readline().strip() != b"ready":
        _stop(server)
        raise RuntimeError("the bench DNS server did not start")
    return server


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.kill()
    server.wait()
    for stream in (server.stdin, server.stdout):
        if stream is not None:
            stream.close()


def main(argv: list[str]) -> int:
    kind, resolver, count = argv
    server = _enter_private_resolver()
    try:
        try:
            loop = _make_loop(kind, resolver)
        except CaseUnavailable as exc:
            print(json.dumps({"unavailable": str(exc)}))
            return 0
        try:
            seconds = loop.run_until_complete(_measure(loop, int(count)))
        finally:
            loop.close()
    finally:
        _stop(server)
    print(json.dumps({"ops": int(count), "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
