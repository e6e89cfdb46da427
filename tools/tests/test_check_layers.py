"""Each rule of tools/check_layers.py fails on a bad example and passes the good one."""

from __future__ import annotations

import pytest

from tools import check_layers
from tools.check_layers import EXEMPT_MARKER

from .conftest import FakeRepo


def codes(repo: FakeRepo) -> list[tuple[str, str, int]]:
    """(code, path relative to the repo, line) of every violation."""
    return [
        (v.code, str(v.path.relative_to(repo.root)), v.line) for v in check_layers.check(repo.root)
    ]


SEL = "packages/selector/src/layerloop_selector"
DNS = "packages/dns/src/layerloop_dns"
CORE = "packages/core/src/layerloop_core"


def test_a_clean_repository_passes(repo: FakeRepo) -> None:
    repo.write(f"{SEL}/_epoll.py", "from layerloop_core import EventLoop\nimport layerloop_core\n")
    repo.write(f"{DNS}/_threaded.py", "from layerloop_core.abc import IOBackend\n")
    assert codes(repo) == []
    assert check_layers.main([str(repo.root)]) == 0


# -- LL001: only declared layerloop dependencies ------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "import layerloop_selector\n",
        "from layerloop_selector import new_backend\n",
        "import layerloop_selector as sel\n",
        "import importlib\nimportlib.import_module('layerloop_selector')\n",
        "from importlib import import_module\nimport_module('layerloop_selector')\n",
        "__import__('layerloop_selector')\n",
        "def f():\n    import layerloop_selector\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import layerloop_selector\n",
    ],
)
def test_a_sibling_import_fails(repo: FakeRepo, source: str) -> None:
    repo.write(f"{DNS}/_threaded.py", source)
    assert [c[0] for c in codes(repo)] == ["LL001"]


def test_an_upward_import_fails(repo: FakeRepo) -> None:
    repo.package("layerloop", deps=["layerloop-core==0.1.0"], exports=["run"])
    repo.write(f"{CORE}/_x.py", "from layerloop import run\n")
    assert ("LL001", f"{CORE}/_x.py", 1) in codes(repo)


def test_an_unknown_layerloop_package_fails(repo: FakeRepo) -> None:
    repo.write(f"{SEL}/_x.py", "\n\nimport layerloop_transports\n")
    assert codes(repo) == [("LL001", f"{SEL}/_x.py", 3)]


def test_the_message_names_the_package_and_its_declared_dependencies(repo: FakeRepo) -> None:
    repo.write(f"{DNS}/_threaded.py", "import layerloop_selector\n")
    (violation,) = check_layers.check(repo.root)
    text = violation.format(repo.root)
    assert text.startswith(f"{DNS}/_threaded.py:1:0: LL001 layerloop-dns imports")
    assert "layerloop_selector" in text and "layerloop-core" in text


def test_a_layer_named_by_an_extra_may_be_imported(repo: FakeRepo) -> None:
    # layerloop[uring] -> layerloop_proactor: imported (guarded) only when installed.
    repo.package("proactor", deps=["layerloop-core>=0.1,<1"], exports=["UringBackend"])
    repo.package(
        "layerloop",
        deps=["layerloop-core==0.1.0"],
        exports=["run"],
        optional={"uring": ["layerloop-proactor==0.1.0"]},
        modules={"_loop.py": "from layerloop_proactor import UringBackend\n"},
    )
    repo.package(
        "dns",
        deps=["layerloop-core>=0.1,<1"],
        exports=["ThreadedResolver"],
        modules={"_x.py": "from layerloop_proactor import UringBackend\n"},
    )
    found = [(c[0], c[1]) for c in codes(repo)]
    assert found == [("LL001", "packages/dns/src/layerloop_dns/_x.py")]


def test_a_package_tests_may_import_its_test_group_only(repo: FakeRepo) -> None:
    repo.package("testing", deps=["layerloop-core>=0.1,<1"], exports=["Suite"])
    repo.package(
        "selector",
        deps=["layerloop-core>=0.1,<1"],
        exports=["new_backend"],
        test_group=["layerloop-testing"],
        tests={"test_a.py": "from layerloop_testing import Suite\nimport layerloop_selector\n"},
    )
    repo.package(
        "dns",
        deps=["layerloop-core>=0.1,<1"],
        exports=["ThreadedResolver"],
        tests={"test_b.py": "from layerloop_testing import Suite\n"},
    )
    assert codes(repo) == [("LL001", "packages/dns/tests/test_b.py", 1)]


def test_the_check_fails_through_main(repo: FakeRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.write(f"{DNS}/_threaded.py", "import layerloop_selector\n")
    assert check_layers.main([str(repo.root)]) == 1
    assert "LL001" in capsys.readouterr().out


# -- LL003 / LL004: only the public API of another package --------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "from layerloop_core._loop import EventLoop\n",
        "import layerloop_core._loop\n",
        "from layerloop_core import _loop\n",
        "import layerloop_core\nx = layerloop_core._loop\n",
        "import layerloop_core as c\nx = c._loop.EventLoop\n",
        "from layerloop_core import EventLoop\nEventLoop._run_once\n",
        "import importlib\nimportlib.import_module('layerloop_core._loop')\n",
    ],
)
def test_a_private_module_or_name_of_another_package_fails(repo: FakeRepo, source: str) -> None:
    repo.write(f"{SEL}/_epoll.py", source)
    assert [c[0] for c in codes(repo)] == ["LL003"]


def test_a_package_may_use_its_own_private_modules(repo: FakeRepo) -> None:
    repo.write(f"{SEL}/_impl.py", "X = 1\n")
    repo.write(
        f"{SEL}/_epoll.py",
        "from . import _impl\nfrom ._impl import X\nimport layerloop_selector._impl\n",
    )
    assert codes(repo) == []


@pytest.mark.parametrize(
    "source",
    [
        "from layerloop_core import NotExported\n",
        "import layerloop_core\nlayerloop_core.NotExported\n",
        "from layerloop_core.abc import Missing\n",
    ],
)
def test_a_name_missing_from_all_fails(repo: FakeRepo, source: str) -> None:
    repo.write(f"{SEL}/_epoll.py", source)
    assert [c[0] for c in codes(repo)] == ["LL004"]


def test_public_submodules_and_exported_names_pass(repo: FakeRepo) -> None:
    repo.write(
        f"{SEL}/_epoll.py",
        "from layerloop_core import abc, EventLoop\nimport layerloop_core.abc\n"
        "abc.IOBackend\nlayerloop_core.abc.IOBackend\nEventLoop.run_forever\n",
    )
    assert codes(repo) == []


def test_private_names_are_checked_in_tests_too(repo: FakeRepo) -> None:
    repo.package(
        "dns",
        deps=["layerloop-core>=0.1,<1"],
        exports=["ThreadedResolver"],
        tests={
            "test_x.py": "from layerloop_core._loop import EventLoop\nimport layerloop_dns._x\n"
        },
    )
    assert codes(repo) == [("LL003", "packages/dns/tests/test_x.py", 1)]


# -- LL005: __init__ re-exports with a literal __all__ ------------------------------------


def test_an_init_without_all_fails(repo: FakeRepo) -> None:
    repo.package("dns", deps=["layerloop-core>=0.1,<1"], exports=None)
    assert codes(repo) == [("LL005", f"{DNS}/__init__.py", 1)]


def test_all_naming_an_unbound_name_fails(repo: FakeRepo) -> None:
    repo.write(f"{DNS}/__init__.py", "from ._x import A\n__all__ = ['A', 'B']\n")
    assert codes(repo) == [("LL005", f"{DNS}/__init__.py", 1)]


def test_a_missing_init_fails(repo: FakeRepo) -> None:
    (repo.root / DNS / "__init__.py").unlink()
    assert [c[0] for c in codes(repo)] == ["LL005"]


# -- LL010 / LL011 / LL012: asyncio's public API only -------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio.base_events\n",
        "from asyncio import selector_events\n",
        "from asyncio.unix_events import SelectorEventLoop\n",
        "from asyncio import sslproto as s\n",
        "import asyncio\nasyncio.proactor_events\n",
        "import asyncio\nasyncio.staggered.staggered_race\n",
        "import asyncio.format_helpers as fh\n",
        "from asyncio.coroutines import iscoroutine\n",
        "from asyncio.base_tasks import _task_repr\n",
        "import asyncio.windows_events\n",
        "import importlib\nimportlib.import_module('asyncio.base_subprocess')\n",
    ],
)
def test_a_private_asyncio_module_fails(repo: FakeRepo, source: str) -> None:
    repo.write(f"{CORE}/_x.py", source)
    assert "LL010" in [c[0] for c in codes(repo)]


@pytest.mark.parametrize(
    "source",
    [
        "from asyncio.events import _get_running_loop\n",
        "import asyncio\nasyncio.events._set_running_loop(None)\n",
        "from asyncio import events\nevents._get_event_loop()\n",
        "import asyncio\nasyncio._something_private\n",
        "from asyncio.tasks import _PyTask\n",
    ],
)
def test_a_private_asyncio_name_fails(repo: FakeRepo, source: str) -> None:
    repo.write(f"{CORE}/_x.py", source)
    assert [c[0] for c in codes(repo)] == ["LL011"]


def test_typeshed_private_aliases_may_be_named_for_the_type_checker_only(
    repo: FakeRepo,
) -> None:
    repo.write(
        f"{CORE}/_x.py",
        "import typing\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from asyncio import _CoroutineLike\nif typing.TYPE_CHECKING:\n"
        "    from asyncio.tasks import _TaskCompatibleCoro\nelse:\n"
        "    from asyncio.events import _get_event_loop\n",
    )
    repo.write(f"{CORE}/_y.py", "if TYPE_CHECKING:\n    import asyncio.base_events\n")
    repo.write(f"{CORE}/_z.py", "from asyncio import _CoroutineLike\n")
    assert codes(repo) == [
        ("LL011", f"{CORE}/_x.py", 8),
        ("LL010", f"{CORE}/_y.py", 2),
        ("LL011", f"{CORE}/_z.py", 1),
    ]


def test_public_asyncio_and_its_sanctioned_exports_pass(repo: FakeRepo) -> None:
    repo.write(
        f"{CORE}/_x.py",
        "import asyncio\nfrom asyncio import events, AbstractEventLoop\n"
        "asyncio._set_running_loop(None)\nasyncio._get_running_loop()\n"
        "asyncio.events.AbstractEventLoop\nasyncio.tasks.Task\n"
        "class L(asyncio.AbstractEventLoop): ...\n",
    )
    assert codes(repo) == []


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio\nclass L(asyncio.BaseEventLoop): ...\n",
        "from asyncio import BaseEventLoop\n",
        "import asyncio\nisinstance(1, asyncio.BaseEventLoop)\n",
        "from asyncio import *\nBaseEventLoop\n",
        "import asyncio\nclass L(asyncio.SelectorEventLoop): ...\n",
        "from asyncio import SelectorEventLoop as S\nclass L(S): ...\n",
    ],
)
def test_base_event_loop_fails_in_source(repo: FakeRepo, source: str) -> None:
    repo.write(f"{CORE}/_x.py", source)
    assert set(c[0] for c in codes(repo)) == {"LL012"}


def test_tests_may_name_but_not_subclass_asyncio_loops(repo: FakeRepo) -> None:
    repo.write(
        "packages/core/tests/test_ok.py", "import asyncio\nisinstance(1, asyncio.BaseEventLoop)\n"
    )
    repo.write(
        "packages/core/tests/test_bad.py", "import asyncio\nclass L(asyncio.BaseEventLoop): ...\n"
    )
    repo.write(
        "tests-integration/test_bad.py", "import asyncio\n\nclass L(asyncio.EventLoop): ...\n"
    )
    assert codes(repo) == [
        ("LL012", "packages/core/tests/test_bad.py", 2),
        ("LL012", "tests-integration/test_bad.py", 3),
    ]


def test_private_asyncio_modules_fail_in_tests_and_integration(repo: FakeRepo) -> None:
    repo.write("packages/core/tests/test_a.py", "from asyncio import base_events\n")
    repo.write("tests-integration/sub/test_b.py", "import asyncio.selector_events\n")
    assert codes(repo) == [
        ("LL010", "packages/core/tests/test_a.py", 1),
        ("LL010", "tests-integration/sub/test_b.py", 1),
    ]


def test_the_cpython_binding_marker_exempts_test_files_only(repo: FakeRepo) -> None:
    bad = f"{EXEMPT_MARKER}\nfrom asyncio import base_events\n"
    repo.write("tests-integration/test_bind.py", bad)
    repo.write("packages/core/tests/test_bind.py", bad)
    repo.write(f"{CORE}/_bind.py", bad)
    assert codes(repo) == [("LL010", f"{CORE}/_bind.py", 2)]


def test_integration_tests_may_import_every_layer(repo: FakeRepo) -> None:
    repo.write("tests-integration/test_all.py", "import layerloop_selector, layerloop_dns\n")
    assert codes(repo) == []


def test_a_syntax_error_is_reported(repo: FakeRepo) -> None:
    repo.write(f"{CORE}/_broken.py", "def (:\n")
    assert [c[0] for c in codes(repo)] == ["LL000"]
