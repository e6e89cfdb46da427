"""The pytest plugin: ``loop_factory`` over every discovered backend plus asyncio, and
discovery through the ``layerloop.backends`` entry-point group."""

from __future__ import annotations

import importlib.metadata
import os
import textwrap
from pathlib import Path

import pytest

from layerloop_testing import (
    BACKENDS_ENTRY_POINT_GROUP,
    STDLIB_NAME,
    discover_backends,
    loop_factories,
)

TESTS = Path(__file__).resolve().parent

PROBE = """
    import asyncio

    def test_probe(loop_factory):
        loop = loop_factory()
        try:
            assert isinstance(loop, asyncio.AbstractEventLoop)
            assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
            if loop_factory.name == "asyncio":
                assert type(loop).__module__.startswith("asyncio.")
            else:
                assert loop.backend.name == loop_factory.name
        finally:
            loop.close()
"""


def test_loop_factory_is_parametrised_over_every_backend_and_asyncio(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(PROBE)
    result = pytester.runpytest("-v", "-p", "no:cacheprovider")
    names = [f.name for f in loop_factories() if f.unavailable is None]
    assert names[-1] == STDLIB_NAME
    for name in names:
        result.stdout.fnmatch_lines([f"*test_probe[[]{name}[]] PASSED*"])
    result.assert_outcomes(passed=len(names))
    registered = {
        ep.name
        for ep in importlib.metadata.entry_points(group=BACKENDS_ENTRY_POINT_GROUP)
        if ep.name in {"epoll", "poll", "select"}
    }
    # Every backend registered for this kernel is offered (kqueue is not, on Linux).
    assert registered <= set(names)


def test_layerloop_backend_option_selects(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PROBE)
    result = pytester.runpytest("-v", "-p", "no:cacheprovider", "--layerloop-backend", "asyncio")
    result.stdout.fnmatch_lines(["*test_probe[[]asyncio[]] PASSED*"])
    others = len([f for f in loop_factories() if f.unavailable is None]) - 1
    result.assert_outcomes(passed=1, deselected=others)


def _fake_distribution(root: Path, entries: dict[str, str]) -> None:
    """A distribution that registers *entries* in ``layerloop.backends``."""
    info = root / "fake_backends-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-backends\nVersion: 1.0\n")
    lines = [f"[{BACKENDS_ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (root / "fake_backends.py").write_text(
        textwrap.dedent(
            """
            def unavailable():
                raise OSError("no such kernel feature here")

            def foreign():
                raise RuntimeError("the kqueue backend is not available on linux")

            def elsewhere():
                raise NotImplementedError("this backend needs another kernel")
            """
        )
    )


ENTRIES = {
    "minimal": "minimal_backend:MinimalBackend",
    "nokernel": "fake_backends:unavailable",
    "foreign": "fake_backends:foreign",
    "elsewhere": "fake_backends:elsewhere",
    "missing": "no_such_module_anywhere:Backend",
}


def test_entry_points_are_discovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(tmp_path, ENTRIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(TESTS))
    found = {info.name: info for info in discover_backends()}
    assert found["minimal"].origin == "entry point minimal_backend:MinimalBackend"
    assert found["minimal"].unavailable is None
    backend = found["minimal"].new_backend()
    assert backend.name == "minimal"
    backend.close()
    assert found["nokernel"].unavailable == "OSError: no such kernel feature here"
    assert found["foreign"].unavailable == (
        "RuntimeError: the kqueue backend is not available on linux"
    )
    # A backend for another kernel has nothing to test here: it is not offered at all.
    assert "elsewhere" not in found
    missing = found["missing"].unavailable
    assert missing is not None and missing.startswith("cannot import")


def test_unavailable_backends_are_skipped_parameters_not_dropped(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    _fake_distribution(dist, ENTRIES)
    pytester.makepyfile(PROBE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(dist), str(TESTS)]))
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider", "-rs")
    result.stdout.fnmatch_lines(
        [
            "*test_probe[[]minimal[]] PASSED*",
            "*test_probe[[]nokernel[]] SKIPPED*",
            "*test_probe[[]missing[]] SKIPPED*",
            "*nokernel unavailable: OSError: no such kernel feature here*",
        ]
    )
