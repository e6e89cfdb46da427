"""The pytest plugin (entry point ``pytest11``): the ``loop_factory`` fixture.

``loop_factory`` is parametrised over every discovered backend (see
:mod:`layerloop_testing._discovery`) plus stdlib asyncio as the oracle, with the
backend names as ids (``epoll``, ``poll``, ``select``, ``asyncio``).  A backend that
cannot be created on this machine shows up as a skipped parameter with the reason.

``--layerloop-backend NAME`` (repeatable) keeps only the named parameters.
"""

from __future__ import annotations

import pytest

from ._discovery import LoopFactory, loop_factories

__all__ = ["loop_factory", "pytest_addoption", "pytest_collection_modifyitems"]


def _params() -> list[object]:
    try:
        factories = loop_factories()
    except Exception as exc:  # fail every loop_factory test instead of pytest itself
        message = f"layerloop backend discovery failed: {type(exc).__name__}: {exc}"
        return [pytest.param(_DiscoveryError(message), id="discovery-error")]
    params: list[object] = []
    for factory in factories:
        marks = []
        if factory.unavailable is not None:
            marks.append(
                pytest.mark.skip(reason=f"{factory.name} unavailable: {factory.unavailable}")
            )
        params.append(pytest.param(factory, id=factory.name, marks=marks))
    return params


class _DiscoveryError:
    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("layerloop", "layerloop conformance kit")
    group.addoption(
        "--layerloop-backend",
        action="append",
        default=[],
        dest="layerloop_backends",
        metavar="NAME",
        help="run loop_factory tests only for this backend (repeatable; 'asyncio' is the oracle)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted: list[str] = config.getoption("layerloop_backends")
    if not wanted:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        factory = callspec.params.get("loop_factory") if callspec is not None else None
        if isinstance(factory, LoopFactory) and factory.name not in wanted:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(params=_params())
def loop_factory(request: pytest.FixtureRequest) -> LoopFactory:
    """A zero-argument callable returning a new loop of one backend (or stdlib asyncio).

    ``loop_factory.name`` is the backend name.  The test owns the loops it creates.
    """
    factory = request.param
    if isinstance(factory, _DiscoveryError):
        pytest.fail(factory.message)
    assert isinstance(factory, LoopFactory)
    return factory
