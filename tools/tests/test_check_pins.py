"""Each rule of tools/check_pins.py fails on a bad example and passes the good one."""

from __future__ import annotations

import pytest

from tools import check_pins

from .conftest import FakeRepo


def codes(repo: FakeRepo) -> list[tuple[str, str]]:
    return [(p.code, p.where) for p in check_pins.check(repo.root)]


def with_meta(repo: FakeRepo, *deps: str, optional: dict[str, list[str]] | None = None) -> None:
    repo.package("layerloop", deps=deps, exports=["run"], optional=optional)


def test_a_consistent_repository_passes(repo: FakeRepo) -> None:
    with_meta(repo, "layerloop-core==0.1.0", "layerloop-selector==0.1.0", "layerloop-dns==0.1.0")
    assert codes(repo) == []
    assert check_pins.main([str(repo.root)]) == 0


def test_an_invalid_version_fails(repo: FakeRepo) -> None:
    repo.package("dns", deps=["layerloop-core>=0.1,<1"], version="one", exports=[])
    assert ("LP001", "packages/dns/src/layerloop_dns/_version.py") in codes(repo)


def test_a_requirement_on_a_distribution_not_in_the_repo_fails(repo: FakeRepo) -> None:
    repo.package("dns", deps=["layerloop-core>=0.1,<1", "layerloop-cares>=0.1,<1"], exports=[])
    assert codes(repo) == [("LP002", "packages/dns/pyproject.toml")]


def test_a_package_missing_from_the_layer_table_fails(repo: FakeRepo) -> None:
    repo.package("extra", deps=["layerloop-core>=0.1,<1"], exports=[])
    assert codes(repo) == [("LP003", "pyproject.toml")]


def test_a_dependency_the_layer_table_forbids_fails(repo: FakeRepo) -> None:
    repo.package("dns", deps=["layerloop-core>=0.1,<1", "layerloop-selector>=0.1,<1"], exports=[])
    assert codes(repo) == [("LP003", "packages/dns/pyproject.toml")]


@pytest.mark.parametrize(
    "requirement",
    [
        "layerloop-core==0.1.0",  # a pin: only the meta-package pins
        "layerloop-core>=0.1",  # no upper bound
        "layerloop-core<1",  # no lower bound
        "layerloop-core",  # no bounds at all
        "layerloop-core>=0.2,<1",  # does not admit the current 0.1.0
        "layerloop-core>=0,<0.1",  # neither
    ],
)
def test_a_layer_requirement_must_be_a_range_admitting_the_current_version(
    repo: FakeRepo, requirement: str
) -> None:
    repo.package("dns", deps=[requirement], exports=[])
    assert {c for c, _ in codes(repo)} == {"LP004"}


def test_ranges_in_extras_are_checked_too(repo: FakeRepo) -> None:
    repo.package(
        "dns",
        deps=["layerloop-core>=0.1,<1"],
        exports=[],
        optional={"fast": ["layerloop-core>=0.5,<1"]},
    )
    assert codes(repo) == [("LP004", "packages/dns/pyproject.toml")]


@pytest.mark.parametrize(
    "requirement",
    ["layerloop-core>=0.1,<1", "layerloop-core==0.1.1", "layerloop-core", "layerloop-core~=0.1.0"],
)
def test_the_meta_package_must_pin_exact_current_versions(repo: FakeRepo, requirement: str) -> None:
    with_meta(repo, requirement, "layerloop-selector==0.1.0")
    assert codes(repo) == [("LP005", "packages/layerloop/pyproject.toml")]


def test_the_meta_package_pins_its_extras_too(repo: FakeRepo) -> None:
    with_meta(repo, "layerloop-core==0.1.0", optional={"dns": ["layerloop-dns>=0.1,<1"]})
    assert codes(repo) == [("LP005", "packages/layerloop/pyproject.toml")]


def test_a_version_bump_without_a_pin_bump_fails(repo: FakeRepo) -> None:
    with_meta(repo, "layerloop-core==0.1.0", "layerloop-dns==0.1.0")
    repo.write("packages/dns/src/layerloop_dns/_version.py", '__version__ = "0.2.0"\n')
    assert codes(repo) == [("LP005", "packages/layerloop/pyproject.toml")]


def test_a_dependency_cycle_fails(repo: FakeRepo) -> None:
    repo.write(
        "pyproject.toml",
        '[tool.layerloop.layers]\nlayerloop-core = ["layerloop-dns"]\n'
        'layerloop-dns = ["layerloop-core"]\nlayerloop-selector = ["layerloop-core"]\n',
    )
    repo.package("core", deps=["layerloop-dns>=0.1,<1"], exports=[])
    assert ("LP006", "packages/") in codes(repo)


def test_a_package_missing_from_tox_fails(repo: FakeRepo) -> None:
    repo.write_tox(["core", "selector"])
    assert codes(repo) == [("LP007", "tools/tox.ini")]


def test_main_reports_problems(repo: FakeRepo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.package("dns", deps=["layerloop-core==0.1.0"], exports=[])
    assert check_pins.main([str(repo.root)]) == 1
    assert "LP004" in capsys.readouterr().out
