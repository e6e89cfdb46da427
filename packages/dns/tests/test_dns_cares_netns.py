"""CaresResolver against glibc's own DNS lookups, in a private network namespace.

glibc reads its DNS servers from ``/etc/resolv.conf`` and always uses port 53, so it
cannot be pointed at a test server on a free port.  Instead a child process gets a new
mount and network namespace (``unshare -m -n``, root only): a loopback interface of its
own, a ``resolv.conf`` bind-mounted over the real one that names ``127.0.0.1``, and the
test DNS server on ``127.0.0.1:53``.  There ``socket.getaddrinfo`` and a
``CaresResolver()`` with its default configuration (which reads the same
``resolv.conf``) answer the same queries, and every answer, order and errors
included, must be identical.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pycares", reason="the c-ares resolver needs the [cares] extra")
pytest.importorskip("dns.message", reason="the test DNS server needs dnspython")

HERE = Path(__file__).resolve().parent

CHILD = r"""
import asyncio, itertools, json, os, socket, subprocess, sys, tempfile
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
conf.write("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
conf.close()
subprocess.run(["mount", "--bind", conf.name, "/etc/resolv.conf"], check=True)

from dns_test_server import DNSTestServer
from layerloop_dns import CaresResolver

names = ["a.test", "multi.test", "dual.test", "v6.test", "alias.test", "chain.test",
         "mx.test", "nothere.test", "fail.test", "A.TEST", "a.test."]
families = [0, socket.AF_INET, socket.AF_INET6]
shapes = [(0, 0), (socket.SOCK_STREAM, 0), (socket.SOCK_DGRAM, 0), (0, socket.IPPROTO_UDP),
          (socket.SOCK_RAW, 0)]
ports = [None, 80, "8080"]
flag_sets = [0, socket.AI_CANONNAME, socket.AI_CANONNAME | socket.AI_NUMERICSERV]

def outcome(call):
    try:
        return ["ok", [[int(f), int(t), p, c, list(a)] for f, t, p, c, a in call()]]
    except OSError as exc:
        return ["error", type(exc).__name__, exc.errno]

async def ours(resolver, query):
    name, port, family, (socktype, proto), flags = query
    try:
        answer = await resolver.getaddrinfo(name, port, family=family, type=socktype,
                                            proto=proto, flags=flags)
    except OSError as exc:
        return ["error", type(exc).__name__, exc.errno]
    return ["ok", [[int(f), int(t), p, c, list(a)] for f, t, p, c, a in answer]]

async def main():
    resolver = CaresResolver()
    resolver.attach(asyncio.get_running_loop())
    compared = by_dns = 0
    mismatches = []
    try:
        for query in itertools.product(names, ports, families, shapes, flag_sets):
            name, port, family, (socktype, proto), flags = query
            if socktype == socket.SOCK_RAW and port is not None:
                continue
            expected = outcome(
                lambda: socket.getaddrinfo(name, port, family, socktype, proto, flags))
            by_dns += resolver.answers_by_dns(name, port, family, socktype, proto, flags)
            got = await ours(resolver, query)
            compared += 1
            if got != expected:
                mismatches.append({"query": repr(query), "glibc": expected, "cares": got})
    finally:
        resolver.close()
    print(json.dumps({"compared": compared, "by_dns": by_dns, "mismatches": mismatches}))

with DNSTestServer("127.0.0.1", 53):
    asyncio.run(main())
"""


def _namespaces_available() -> str | None:
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux's"
    if os.geteuid() != 0:
        return "unshare -m -n and binding port 53 need root"
    for tool in ("unshare", "mount", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run(["unshare", "-m", "-n", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"unshare -m -n is denied here: {probe.stderr.decode(errors='replace').strip()}"
    return None


_WHY_NOT = _namespaces_available()


@pytest.mark.skipif(_WHY_NOT is not None, reason=str(_WHY_NOT))
def test_answers_equal_glibcs_in_a_private_namespace() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
    done = subprocess.run(
        ["unshare", "-m", "-n", sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["mismatches"] == []
    # The comparison must really have exercised c-ares, not only the fallback.
    assert report["by_dns"] > 300, report
    assert report["compared"] == report["by_dns"]
