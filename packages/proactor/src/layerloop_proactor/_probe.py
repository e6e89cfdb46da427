"""Is io_uring usable here?  Asked once per process, never raising.

io_uring is often missing or denied: kernels before 5.1 lack it, emulated kernels (old
gVisor, x86 emulation) answer ``ENOSYS``; the ``kernel.io_uring_disabled`` sysctl (6.6+)
makes setup fail with ``EPERM`` (``1``: unless privileged, ``2``: always); container
runtimes' default seccomp profiles (Docker 25+, containerd, Kubernetes ``RuntimeDefault``)
answer ``EPERM``.  A seccomp policy that *kills* instead of answering would end the
process, which is why nothing is attempted off Linux.  The probe creates one ring with
the flags the backend uses, checks the opcodes and features it needs, and closes it.
"""

from __future__ import annotations

import errno
import functools
import sys
from dataclasses import dataclass

from ._ring import FEAT_EXT_ARG, ON_LINUX, OP_NAMES, REQUIRED_OPS, SETUP_DEFER_TASKRUN, Ring

__all__ = ["UringAvailability", "probe_uring"]


@dataclass(frozen=True, slots=True)
class UringAvailability:
    """The probe's verdict: ``usable``, and ``reason`` in words either way."""

    usable: bool
    reason: str
    #: Setup flags the kernel accepted (0 when unusable).
    setup_flags: int = 0
    #: Opcodes IORING_REGISTER_PROBE reports (empty when unusable).
    supported_ops: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return self.usable


def _sysctl_disabled() -> int:
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


@functools.cache
def probe_uring() -> UringAvailability:
    """Probe once per process (the answer is cached); never raises."""
    if not ON_LINUX:
        return UringAvailability(False, f"io_uring is Linux-only (platform {sys.platform!r})")
    if _sysctl_disabled() == 2:
        return UringAvailability(False, "io_uring is disabled by sysctl kernel.io_uring_disabled=2")
    try:
        ring = Ring(entries=8)
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        hint = ""
        if exc.errno == errno.EPERM:
            hint = " (denied by a seccomp filter or kernel.io_uring_disabled)"
        elif exc.errno == errno.ENOSYS:
            hint = " (the kernel has no io_uring)"
        return UringAvailability(False, f"io_uring_setup failed: {name}{hint}")
    except Exception as exc:  # ctypes missing, a mapping failure: never crash the caller
        return UringAvailability(False, f"io_uring_setup failed: {type(exc).__name__}: {exc}")
    try:
        try:
            ops = ring.supported_ops()
        except OSError as exc:
            return UringAvailability(False, f"IORING_REGISTER_PROBE failed: {exc}")
        missing = [OP_NAMES[op] for op in REQUIRED_OPS if op not in ops]
        if missing:
            return UringAvailability(False, f"the kernel lacks io_uring ops {', '.join(missing)}")
        if not ring.features & FEAT_EXT_ARG:
            return UringAvailability(False, "the kernel lacks IORING_FEAT_EXT_ARG (5.11+)")
        mode = (
            "SINGLE_ISSUER|DEFER_TASKRUN"
            if ring.setup_flags & SETUP_DEFER_TASKRUN
            else "COOP_TASKRUN (no DEFER_TASKRUN: slower)"
        )
        return UringAvailability(
            True, f"io_uring usable ({mode}, {len(ops)} ops)", ring.setup_flags, ops
        )
    finally:
        ring.close()
