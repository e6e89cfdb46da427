"""The fallback when io_uring is denied, proven by denying it: a child process installs
a seccomp filter (classic BPF through ctypes prctl) that answers io_uring_setup with
EPERM or ENOSYS, as Docker's default profile and emulated kernels do."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

CHILD = os.path.join(os.path.dirname(__file__), "seccomp_child.py")

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"),
    reason="the seccomp filter is written for Linux on x86_64 and aarch64",
)


def _run_child(errno_name: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-X", "dev", CHILD, errno_name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("errno_name", "explanation"),
    [
        ("EPERM", "denied by a seccomp filter or kernel.io_uring_disabled"),
        ("ENOSYS", "the kernel has no io_uring"),
    ],
)
def test_denied_io_uring_falls_back_with_the_reason(errno_name: str, explanation: str) -> None:
    report = _run_child(errno_name)
    assert report["usable"] is False
    reason = f"io_uring_setup failed: {errno_name} ({explanation})"
    assert report["reason"] == reason
    # The backend itself is strict: it raises with the probe's reason.
    assert report["backend_error"] == reason
