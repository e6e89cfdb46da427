"""Exclusions for CPython 3.1's test.test_asyncio (see __init__.py for the format)."""

from __future__ import annotations

from . import SUBPROCESS, TRANSPORTS, VIRTUAL_CLOCK

EXCLUSIONS: dict[str, str] = {
}

_ = (SUBPROCESS, TRANSPORTS, VIRTUAL_CLOCK)
