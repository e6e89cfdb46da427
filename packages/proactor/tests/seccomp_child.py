"""Run in a child process: deny io_uring_setup with a seccomp filter, then report what
layerloop-proactor (and, when installed, the assembled loop) do about it as JSON.

Usage: python seccomp_child.py ERRNO_NAME

The filter is a four-instruction classic-BPF program installed with prctl(2) through
ctypes: if the syscall number is io_uring_setup (425, the same on every architecture
that has it) and the audit architecture is this machine's, return ERRNO; else allow.
PR_SET_NO_NEW_PRIVS first, so no privilege is needed.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import json
import platform
import socket
import struct
import sys
import warnings

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


def main() -> None:
    code = getattr(errno, sys.argv[1])
    deny_io_uring_setup(code)
    # Imported only once the filter is in place (the probe runs once per process).
    from layerloop_proactor import (  # noqa: PLC0415
        UringBackend,
        UringUnavailableError,
        probe_uring,
    )

    report: dict[str, object] = {}
    verdict = probe_uring()
    report["usable"] = verdict.usable
    report["reason"] = verdict.reason
    try:
        UringBackend().close()
    except UringUnavailableError as exc:
        report["backend_error"] = str(exc)
    try:
        import layerloop  # noqa: PLC0415 - optional: the assembled loop
    except ImportError:
        report["assembled"] = None
    else:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            loop = layerloop.new_event_loop(backend="uring")
            try:
                report["fallback_backend"] = loop.backend.name
                report["fallback_works"] = loop.run_until_complete(_echo(loop))
            finally:
                loop.close()
        report["warnings"] = [(w.category.__name__, str(w.message)) for w in seen]
        with warnings.catch_warnings():
            warnings.simplefilter("error", layerloop.UringFallbackWarning)
            try:
                layerloop.new_event_loop(backend="uring").close()
                report["strict"] = "no error"
            except layerloop.UringFallbackWarning as exc:
                report["strict"] = f"{type(exc).__name__}: {exc}"
        report["assembled"] = True
    print(json.dumps(report))


async def _echo(loop: object) -> bool:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    running = asyncio.get_running_loop()
    await running.sock_sendall(a, b"ping")
    data = await running.sock_recv(b, 4)
    a.close()
    b.close()
    return data == b"ping"


if __name__ == "__main__":
    main()
