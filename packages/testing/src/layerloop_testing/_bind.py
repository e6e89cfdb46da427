"""Make concrete ``unittest.TestCase`` classes from suites and a loop factory."""

from __future__ import annotations

import asyncio
import re
import unittest
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from ._base import LoopSuite

__all__ = ["bind_loop_suites"]


def bind_loop_suites(
    namespace: MutableMapping[str, Any],
    name: str,
    new_loop: Callable[[], asyncio.AbstractEventLoop],
    suites: Iterable[type[LoopSuite]],
) -> list[type[unittest.TestCase]]:
    """Add ``Test<Suite>_<name>`` classes, one per suite, to *namespace*.

    Pass a test module's ``globals()``; the classes run each suite on loops from
    *new_loop*.  Returns the classes.  ``bind_loop_suites(globals(), "epoll",
    factory, LOOP_SUITES)`` is the whole test module for a loop.
    """
    tag = re.sub(r"\W", "_", name)
    made: list[type[unittest.TestCase]] = []
    for suite in suites:
        class_name = f"Test{suite.__name__}_{tag}"

        def make_loop(
            self: object, _factory: Callable[[], asyncio.AbstractEventLoop] = new_loop
        ) -> asyncio.AbstractEventLoop:
            return _factory()

        cls = type(
            class_name,
            (suite, unittest.TestCase),
            {
                "new_loop": make_loop,
                "__module__": namespace.get("__name__", __name__),
                "__qualname__": class_name,
            },
        )
        namespace[class_name] = cls
        made.append(cls)
    return made
