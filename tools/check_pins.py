"""Versions, pins and the layer table, checked on the packages' metadata.

Run as ``python -m tools.check_pins`` (``nox -s layers`` does).  Exit status 1 and one
line per problem:

=====  ===================================================================================
code   rule
=====  ===================================================================================
LP001  every ``_version.py`` holds a valid PEP 440 version
LP002  every layerloop requirement names a distribution of this repository
LP003  the root ``[tool.layerloop.layers]`` table lists every distribution, and each one
       declares only layerloop dependencies the table permits (this is where "a layer
       depends only on the layers below it" is written down)
LP004  a layer's requirement on another layer (runtime or extras) is a range
       with a lower and an upper bound (``layerloop-core>=0.1,<1``), not a pin, and it
       admits the other layer's current version
LP005  the meta-package pins every layerloop requirement (runtime and extras) to exactly
       the current version of that layer (``layerloop-core==0.1.0``)
LP006  the layerloop dependencies form no cycle
LP007  ``tools/tox.ini`` has one environment per package (so ``tox -c tools/tox.ini``
       tests every wheel)
=====  ===================================================================================
"""

from __future__ import annotations

import configparser
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.packages import (
    REPO_ROOT,
    Contract,
    Package,
    PackageError,
    Requirement,
    discover,
    load_contract,
    load_package,
)

__all__ = ["Problem", "check", "main"]

_LOWER = {">=", ">", "~=", "=="}
_UPPER = {"<", "<=", "~=", "=="}


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    where: str
    code: str
    message: str

    def format(self) -> str:
        return f"{self.where}: {self.code} {self.message}"


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _load_all(root: Path) -> tuple[list[Package], list[Problem]]:
    """The packages, plus a problem for each cycle (discover() refuses cycles)."""
    try:
        return discover(root), []
    except PackageError as exc:
        if "cycle" not in str(exc):
            raise
        pkg_root = root / "packages"
        pkgs = [
            load_package(d)
            for d in sorted(pkg_root.iterdir())
            if d.is_dir() and (d / "pyproject.toml").is_file()
        ]
        return pkgs, [Problem("packages/", "LP006", str(exc))]


def _check_range(
    pkg: Package, req: Requirement, target: Package, where: str, section: str
) -> list[Problem]:
    try:
        spec = SpecifierSet(req.specifier)
    except InvalidSpecifier:
        return [Problem(where, "LP004", f"{section} {req.raw!r}: not a version range")]
    ops = {s.operator for s in spec}
    out: list[Problem] = []
    if "==" in ops or "===" in ops:
        out.append(
            Problem(
                where,
                "LP004",
                f"{section} {req.raw!r}: layers depend on ranges (e.g. "
                f"'{target.name}>={target.version},<1'); only the meta-package pins",
            )
        )
    elif not ops & _LOWER or not ops & _UPPER:
        out.append(
            Problem(
                where,
                "LP004",
                f"{section} {req.raw!r}: a range needs a lower and an upper bound "
                f"(e.g. '{target.name}>={target.version},<1')",
            )
        )
    if not spec.contains(target.version, prereleases=True):
        out.append(
            Problem(
                where,
                "LP004",
                f"{section} {req.raw!r} does not admit {target.name}'s current "
                f"version {target.version}",
            )
        )
    return out


def _check_package(
    pkg: Package, by_key: dict[str, Package], contract: Contract, root: Path
) -> list[Problem]:
    where = _rel(pkg.path / "pyproject.toml", root)
    out: list[Problem] = []
    try:
        Version(pkg.version)
    except InvalidVersion:
        out.append(
            Problem(
                _rel(pkg.src_dir / "_version.py", root),
                "LP001",
                f"{pkg.version!r} is not a PEP 440 version",
            )
        )
    if pkg.key not in contract.allowed:
        out.append(
            Problem(
                "pyproject.toml",
                "LP003",
                f"[tool.layerloop.layers] has no entry for {pkg.name}: add one listing "
                "the layers it may depend on",
            )
        )
    is_meta = pkg.key == contract.meta
    sections: list[tuple[str, Requirement]] = [("dependency", r) for r in pkg.requirements]
    for extra, reqs in pkg.optional_requirements.items():
        sections.extend((f"extra [{extra}]", r) for r in reqs)
    sections.extend(("test group", r) for r in pkg.test_requirements)
    for section, req in sections:
        if not req.is_layerloop:
            continue
        target = by_key.get(req.key)
        if target is None:
            out.append(
                Problem(
                    where,
                    "LP002",
                    f"{section} {req.raw!r} names no distribution of this repository",
                )
            )
            continue
        if target.key == pkg.key or section == "test group":
            continue  # test groups are resolved from this repository: any version goes
        if (
            section != "test group"
            and pkg.key in contract.allowed
            and not contract.permits(pkg.key, target.key)
        ):
            out.append(
                Problem(
                    where,
                    "LP003",
                    f"{pkg.name} may not depend on {target.name}: the layer table in the "
                    "root pyproject.toml does not allow it",
                )
            )
        if is_meta and section != "test group":
            if req.specifier != f"=={target.version}":
                out.append(
                    Problem(
                        where,
                        "LP005",
                        f"{section} {req.raw!r}: the meta-package pins exactly "
                        f"'{target.name}=={target.version}'",
                    )
                )
        else:
            out.extend(_check_range(pkg, req, target, where, section))
    return out


def _check_tox(packages: Sequence[Package], root: Path) -> list[Problem]:
    tox_ini = root / "tools" / "tox.ini"
    if not tox_ini.is_file():
        return [Problem("tools/tox.ini", "LP007", "missing")]
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(tox_ini, encoding="utf-8")
    raw = parser.get("tox", "env_list", fallback=parser.get("tox", "envlist", fallback=""))
    envs = {e.strip() for line in raw.splitlines() for e in line.split(",") if e.strip()}
    return [
        Problem(
            "tools/tox.ini",
            "LP007",
            f"env_list lacks {p.dirname!r} (the wheel test of {p.name})",
        )
        for p in packages
        if p.dirname not in envs
    ]


def check(root: Path = REPO_ROOT) -> list[Problem]:
    """Every metadata problem under ``root``."""
    packages, problems = _load_all(root)
    contract = load_contract(root)
    by_key = {p.key: p for p in packages}
    for pkg in packages:
        problems.extend(_check_package(pkg, by_key, contract, root))
    problems.extend(_check_tox(packages, root))
    return sorted(problems)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(args[0]).resolve() if args else REPO_ROOT
    try:
        problems = check(root)
    except PackageError as exc:
        print(f"check_pins: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem.format())
    if problems:
        print(f"check_pins: {len(problems)} problem(s)")
        return 1
    print("check_pins: versions, pins and the layer table agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
