"""Fixtures of the real-library tests: loops, throwaway servers, TLS certificates.

* ``runner``: a :class:`libs_support.LoopRunner` per backend (epoll, poll, select, and
  every other installed one: uring, skipped with the reason where io_uring cannot run);
  a test that needs only one backend parametrizes ``runner`` itself.
* ``postgres_server`` / ``redis_server``: one server per test module, started by
  ``tools/services.py`` (which installs the Debian package first if it is missing,
  unless ``LAYERLOOP_SERVICES_INSTALL=0``: the noxfile installs them before pytest) on
  127.0.0.1 in a temporary directory, stopped and deleted at the end.  Where that cannot
  be done the tests that need it are skipped with the reason, and fail instead when the
  ``CI`` environment variable is set.
* ``tls``: a CA and a certificate for ``localhost``/``127.0.0.1`` made at test time with
  trustme, as server and client ``SSLContext``s.

This conftest sits below ``tests-integration/conftest.py`` (whose hooks only touch the
CPython-bound test classes) and defines no hook of its own.
"""

from __future__ import annotations

import contextlib
import ssl
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import pytest
from libs_support import (
    BACKENDS,
    INSTALL_SERVICES,
    TLS,
    UNAVAILABLE,
    LoopRunner,
    require,
    unavailable,
)

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools import services  # noqa: E402

S = TypeVar("S")


@pytest.fixture(
    params=[
        pytest.param(b, marks=pytest.mark.skip(reason=UNAVAILABLE[b])) if b in UNAVAILABLE else b
        for b in BACKENDS
    ]
)
def runner(request: pytest.FixtureRequest) -> LoopRunner:
    return LoopRunner(request.param)


def _server(start: Callable[..., AbstractContextManager[S]], what: str) -> Iterator[S]:
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(start(install=INSTALL_SERVICES))
        except services.ServiceUnavailable as exc:
            unavailable(f"{what} unavailable: {exc}")
            raise  # unreachable: unavailable() raises
        yield server


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[services.PostgresServer]:
    yield from _server(services.postgres, "PostgreSQL (Debian package postgresql)")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[services.RedisServer]:
    yield from _server(services.redis, "Redis (Debian package redis-server)")


@pytest.fixture(scope="session")
def tls() -> TLS:
    trustme = require("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client)
    return TLS(server, client, ssl.create_default_context(ssl.Purpose.SERVER_AUTH))
