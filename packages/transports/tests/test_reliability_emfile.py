"""Accept runs out of descriptors for real (``RLIMIT_NOFILE`` lowered in a child
process), and the server survives: see ``reliability_emfile_child.py``."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("reliability_emfile_child.py")


def test_accept_emfile_backs_off_and_serves_again(
    loop: asyncio.AbstractEventLoop, request: pytest.FixtureRequest
) -> None:
    """Accept fails with EMFILE: the error reaches the exception handler once (asyncio:
    once per accept() of the failing batch), with CPython's message and context; the
    listener backs off for ACCEPT_RETRY_DELAY (1 s) instead of spinning; once
    descriptors are free the pending connection is accepted and served, and so are new
    ones."""
    name = request.node.callspec.params["loop"]
    loop.close()  # the scenario runs in a child process, on a loop of the same kind
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(CHILD.parent), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run(
        [sys.executable, "-X", "dev", str(CHILD), name],
        check=False,
        capture_output=True,
        text=True,
        timeout=50,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["filled"] > 0
    reports = result["reports"]
    for report in reports:
        assert report["message"] == "socket.accept() out of system resource"
        assert report["exception"] == "OSError"
        assert report["errno"] == errno.EMFILE
        assert report["has_socket"]
    if name.startswith("layerloop-"):
        assert len(reports) == 1
    else:
        # CPython's accept loop goes on calling accept() after EMFILE, up to the
        # backlog (100) times in the same batch, and reports each failure; the
        # descriptors are back before its retry, so nothing is reported after it.
        assert 1 <= len(reports) <= 100
        assert reports[-1]["at"] - reports[0]["at"] < 0.5
    assert result["echoed"] == "after EMFILE"
    assert result["second_echo"] == "second"
    # Served only after the back-off (1 s from the failure), not when freed (0.3 s).
    assert result["freed_after_report"] < 0.9
    assert 0.9 <= result["served_after_report"] < 5
    print(f"{name}: {result['seconds']:.2f} s in the child")
