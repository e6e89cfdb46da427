"""Run in a child process: deny io_uring_setup with a seccomp filter
(:func:`layerloop_proactor.deny_io_uring_setup`), then report what layerloop-proactor
does about it as JSON.  (packages/layerloop/tests/uring_fallback_child.py checks the
assembled loop's fallback the same way.)

Usage: python seccomp_child.py ERRNO_NAME
"""

from __future__ import annotations

import errno
import json
import sys

from layerloop_proactor import (
    UringBackend,
    UringUnavailableError,
    deny_io_uring_setup,
    probe_uring,
)


def main() -> None:
    deny_io_uring_setup(getattr(errno, sys.argv[1]))
    report: dict[str, object] = {}
    # The probe runs at its first call, here, after the filter is in place.
    verdict = probe_uring()
    report["usable"] = verdict.usable
    report["reason"] = verdict.reason
    try:
        UringBackend().close()
    except UringUnavailableError as exc:
        report["backend_error"] = str(exc)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
