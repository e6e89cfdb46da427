"""A seccomp filter that denies ``io_uring_setup``: how the fallback is tested.

The filter is a classic-BPF program: if the audit architecture is this machine's and
the syscall number is io_uring_setup (425, the same on every architecture that has it),
return the chosen errno; otherwise allow the call.
"""

from __future__ import annotations

import ctypes
import platform
import struct
import sys

__all__ = ["deny_io_uring_setup"]

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06
SYS_IO_URING_SETUP = 425


def deny_io_uring_setup(code: int) -> None:
    """Make every later ``io_uring_setup`` of this process (and its children) fail with
    *code* (an errno such as ``errno.EPERM``), as Docker's default seccomp profile or a
    kernel without io_uring would.  For tests of the fallback; irreversible.

    Installs a classic-BPF seccomp filter with ``prctl(2)``, after
    ``PR_SET_NO_NEW_PRIVS``, so no privilege is needed.  Linux on x86_64 and aarch64
    only (``NotImplementedError`` elsewhere); ``OSError`` if the kernel refuses.
    Call it before the first :func:`probe_uring`, whose answer is cached.
    """
    if sys.platform != "linux":
        raise NotImplementedError("the filter is written for Linux on x86_64 and aarch64")
    else:
        if platform.machine() not in AUDIT_ARCH:
            raise NotImplementedError("the filter is written for Linux on x86_64 and aarch64")
        arch = AUDIT_ARCH[platform.machine()]
        program = [
            (BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
            (BPF_JEQ_K, 0, 3, arch),  # another ABI: allow
            (BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
            (BPF_JEQ_K, 0, 1, SYS_IO_URING_SETUP),
            (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | code),
            (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ]
        filters = ctypes.create_string_buffer(b"".join(struct.pack("<HBBI", *i) for i in program))
        # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
        fprog = ctypes.create_string_buffer(
            struct.pack("<H6xQ", len(program), ctypes.addressof(filters))
        )
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")
