"""Every test leaves asyncio's global policy as it found it."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_policy() -> Iterator[None]:
    """Restore the policy a test may have replaced (install() and friends)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        saved = asyncio.get_event_loop_policy()
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(saved)
