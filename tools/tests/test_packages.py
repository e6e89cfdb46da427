"""tools/packages.py: discovery, requirement parsing, closures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import packages
from tools.packages import PackageError, closure, discover, parse_requirement

from .conftest import FakeRepo


def test_discovery_reads_names_versions_and_dependencies(repo: FakeRepo) -> None:
    repo.package("dns", deps=["layerloop-core>=0.1,<1", "idna>=3"], version="0.3.1", exports=[])
    found = {p.dirname: p for p in discover(repo.root)}
    assert set(found) == {"core", "selector", "dns"}
    dns = found["dns"]
    assert (dns.name, dns.import_name, dns.version) == ("layerloop-dns", "layerloop_dns", "0.3.1")
    assert dns.path == repo.root / "packages" / "dns"
    assert dns.layer_deps == ("layerloop-core",)
    assert [r.name for r in dns.requirements] == ["layerloop-core", "idna"]
    assert dns.src_dir == dns.path / "src" / "layerloop_dns"


def test_dependencies_come_first(repo: FakeRepo) -> None:
    repo.package("layerloop", deps=["layerloop-dns==0.1.0", "layerloop-selector==0.1.0"])
    order = [p.dirname for p in discover(repo.root)]
    assert order.index("core") < order.index("dns") < order.index("layerloop")
    assert order.index("selector") < order.index("layerloop")


def test_the_import_name_is_found_without_hatch_settings(tmp_path: Path) -> None:
    pkg = tmp_path / "packages" / "odd"
    (pkg / "src" / "odd_name").mkdir(parents=True)
    (pkg / "src" / "odd_name" / "_version.py").write_text("__version__: str = '1.2'\n")
    (pkg / "pyproject.toml").write_text('[project]\nname = "layerloop-odd"\n')
    (found,) = discover(tmp_path)
    assert (found.import_name, found.version) == ("odd_name", "1.2")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no __version__"),
        ("__version__ = VERSION\n", "string literal"),
        ("def (:\n", "invalid syntax"),
    ],
)
def test_an_unreadable_version_is_an_error(repo: FakeRepo, text: str, problem: str) -> None:
    repo.write("packages/dns/src/layerloop_dns/_version.py", text)
    with pytest.raises(PackageError, match=problem):
        discover(repo.root)


def test_a_cycle_is_an_error(repo: FakeRepo) -> None:
    repo.package("core", deps=["layerloop-dns>=0.1,<1"])
    with pytest.raises(PackageError, match="cycle"):
        discover(repo.root)


def test_closure_follows_dependencies_and_the_test_group(repo: FakeRepo) -> None:
    repo.package("testing", deps=["layerloop-core>=0.1,<1"])
    repo.package(
        "dns", deps=["layerloop-core>=0.1,<1"], test_group=["layerloop-testing", "hypothesis"]
    )
    pkgs = discover(repo.root)
    assert [p.dirname for p in closure(["dns"], pkgs)] == ["core", "dns"]
    assert [p.dirname for p in closure(["layerloop-dns"], pkgs, with_tests=True)] == [
        "core",
        "dns",
        "testing",
    ]
    dns = packages.find_package("dns", pkgs)
    assert dns.third_party_test_requirements == ("hypothesis",)
    with pytest.raises(PackageError):
        closure(["nope"], pkgs)


@pytest.mark.parametrize(
    ("text", "name", "extras", "spec", "marker"),
    [
        ("layerloop-core>=0.1,<1", "layerloop-core", (), ">=0.1,<1", ""),
        ("layerloop_core (>= 0.1, < 1)", "layerloop_core", (), ">=0.1,<1", ""),
        ("layerloop[uring]==0.1.0", "layerloop", ("uring",), "==0.1.0", ""),
        (
            "uvloop>=0.19; sys_platform != 'win32'",
            "uvloop",
            (),
            ">=0.19",
            "sys_platform != 'win32'",
        ),
        ("pytest", "pytest", (), "", ""),
    ],
)
def test_requirements_are_parsed(
    text: str, name: str, extras: tuple[str, ...], spec: str, marker: str
) -> None:
    req = parse_requirement(text)
    assert (req.name, req.extras, req.specifier, req.marker) == (name, extras, spec, marker)


def test_layerloop_names_are_recognised() -> None:
    assert packages.is_layerloop_name("layerloop")
    assert packages.is_layerloop_name("Layerloop_Core")
    assert not packages.is_layerloop_name("layerloopx")
    assert not packages.is_layerloop_name("uvloop")


def test_the_real_repository_is_discoverable() -> None:
    found = {p.key for p in discover()}
    assert "layerloop-core" in found
    contract = packages.load_contract()
    assert found <= set(contract.allowed)
