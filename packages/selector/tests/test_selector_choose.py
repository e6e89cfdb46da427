"""available_backends() and new_backend(): which backends exist here, and by which name."""

from __future__ import annotations

import select
import sys
from typing import Any

import pytest

import layerloop_selector
from conftest import BACKEND_CLASSES
from layerloop_core.abc import IOBackend
from layerloop_selector import available_backends, new_backend


def test_public_api() -> None:
    assert sorted(layerloop_selector.__all__) == sorted(
        [
            "EpollBackend",
            "KqueueBackend",
            "PollBackend",
            "SelectBackend",
            "__version__",
            "available_backends",
            "new_backend",
        ]
    )
    for name in layerloop_selector.__all__:
        assert getattr(layerloop_selector, name) is not None


def test_available_backends_best_first() -> None:
    names = available_backends()
    if sys.platform == "linux":
        assert names == ["epoll", "poll", "select"]
    elif sys.platform == "win32":
        assert names == ["select"]
    elif hasattr(select, "kqueue"):
        assert names == ["kqueue", "poll", "select"]
    assert names[-1] == "select"  # always there
    assert names == [n for n in ("epoll", "kqueue", "poll", "select") if n in names]


def test_available_backends_is_a_fresh_list() -> None:
    available_backends().clear()
    assert available_backends()


def test_auto_builds_the_best_available() -> None:
    backend: Any = new_backend()
    try:
        assert isinstance(backend, IOBackend)
        assert backend.name == available_backends()[0]
        assert type(backend) is BACKEND_CLASSES[backend.name]
    finally:
        backend.close()


@pytest.mark.parametrize("name", available_backends())
def test_each_available_name_builds_its_backend(name: str) -> None:
    backend: Any = new_backend(name)
    try:
        assert type(backend) is BACKEND_CLASSES[name]
        assert backend.name == name
    finally:
        backend.close()
    other: Any = new_backend(name)
    assert other is not backend  # a new one each time
    other.close()


@pytest.mark.parametrize("name", ["", "EPOLL", "uring", "selector", "auto "])
def test_unknown_names_list_the_valid_ones(name: str) -> None:
    with pytest.raises(ValueError, match="unknown backend") as info:
        new_backend(name)
    for valid in ("'auto'", "'epoll'", "'kqueue'", "'poll'", "'select'"):
        assert valid in str(info.value)


def test_a_backend_this_platform_lacks() -> None:
    missing = [n for n in BACKEND_CLASSES if n not in available_backends()]
    if not missing:
        pytest.skip("every backend is available on this platform")
    for name in missing:
        with pytest.raises(ValueError, match="not available") as info:
            new_backend(name)
        for usable in available_backends():
            assert repr(usable) in str(info.value)
        with pytest.raises(NotImplementedError, match=name):
            BACKEND_CLASSES[name]()
