"""Fixtures for layerloop-proactor's tests.

Every test here needs a working io_uring: where the probe says no (a kernel without it,
a seccomp filter, the io_uring_disabled sysctl), the tests that need a ring are skipped
with the probe's reason, and test_proactor_fallback.py proves the fallback instead.
"""

from __future__ import annotations

import pytest

from layerloop_proactor import probe_uring

VERDICT = probe_uring()
needs_uring = pytest.mark.skipif(not VERDICT.usable, reason=f"io_uring: {VERDICT.reason}")
