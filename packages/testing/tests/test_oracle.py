"""The kit's suites pass on CPython's own loop: the oracle the suites are checked against.

A suite test that fails here is a wrong test, not a wrong loop.
"""

from __future__ import annotations

from layerloop_testing import LOOP_SUITES, STDLIB_NAME, bind_loop_suites, new_stdlib_loop

bind_loop_suites(globals(), STDLIB_NAME, new_stdlib_loop, LOOP_SUITES)
