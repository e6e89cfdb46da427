"""``backend="uring"`` where io_uring is denied: a child process installs a seccomp
filter (layerloop_proactor.deny_io_uring_setup) that answers io_uring_setup with EPERM
or ENOSYS, as Docker's default profile and emulated kernels do; the assembled loop must
fall back to epoll with a warning naming the reason, or raise when warnings are errors."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

CHILD = os.path.join(os.path.dirname(__file__), "uring_fallback_child.py")

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
def test_uring_falls_back_to_epoll_with_the_reason(errno_name: str, explanation: str) -> None:
    pytest.importorskip("layerloop_proactor", reason="backend='uring' needs layerloop[uring]")
    report = _run_child(errno_name)
    reason = f"io_uring_setup failed: {errno_name} ({explanation})"
    assert report["fallback_backend"] == "epoll"
    assert report["fallback_works"] is True
    assert report["warnings"] == [
        [
            "UringFallbackWarning",
            f"io_uring is unavailable ({reason}); using the 'epoll' backend instead",
        ]
    ]
    assert report["strict"] == (
        f"UringFallbackWarning: io_uring is unavailable ({reason}); "
        "using the 'epoll' backend instead"
    )
