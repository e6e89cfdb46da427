"""Discover the distributions of the monorepo.

Every directory ``packages/<dir>/`` holding a ``pyproject.toml`` is one distribution.  For
each we read, without importing or building anything:

* the distribution name (``[project] name``) and its normalized form;
* the import name: the one package directory under ``src/`` (or the wheel target
  named in ``[tool.hatch.build.targets.wheel] packages``);
* the version, from ``src/<import>/_version.py`` (``__version__ = "X.Y.Z"``), parsed with
  :mod:`ast`;
* the requirements (``[project] dependencies`` and ``optional-dependencies``), and the
  test requirements (the PEP 735 ``[dependency-groups] test`` group, if any);
* which of those requirements are layerloop distributions.

The root ``pyproject.toml`` carries the layer contract in ``[tool.layerloop]`` (see
:func:`load_contract`).  Standard library only: the noxfile, the tox helper and the checks
all import this module, each from a different environment.

Run ``python tools/packages.py`` for a table, ``--json`` for machine-readable output.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "REPO_ROOT",
    "Contract",
    "Package",
    "PackageError",
    "Requirement",
    "closure",
    "discover",
    "find_package",
    "is_layerloop_name",
    "load_contract",
    "load_package",
    "normalize",
    "parse_requirement",
]

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Distribution names that belong to this project: ``layerloop`` and ``layerloop-*``.
_LAYERLOOP_DIST = re.compile(r"^layerloop(?:-[a-z0-9-]+)?$")

_REQUIREMENT = re.compile(
    r"""^\s*
    (?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*
    (?:\[(?P<extras>[^\]]*)\])?\s*
    (?P<spec>[^;]*?)\s*
    (?:;\s*(?P<marker>.*?))?\s*$""",
    re.VERBOSE,
)


class PackageError(Exception):
    """A package directory that cannot be understood (bad pyproject, no version...)."""


def normalize(name: str) -> str:
    """The PEP 503 normalized form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_layerloop_name(name: str) -> bool:
    """True for ``layerloop`` and ``layerloop-*`` distribution names (any spelling)."""
    return _LAYERLOOP_DIST.match(normalize(name)) is not None


@dataclass(frozen=True, slots=True)
class Requirement:
    """A PEP 508 requirement, split into the parts the checks need.

    ``specifier`` is the version part as written (``">=0.1,<1"``, ``"==0.1.0"``, or ``""``),
    without surrounding parentheses; a direct reference (``name @ url``) keeps ``"@ url"``.
    """

    raw: str
    name: str
    extras: tuple[str, ...]
    specifier: str
    marker: str

    @property
    def key(self) -> str:
        return normalize(self.name)

    @property
    def is_layerloop(self) -> bool:
        return is_layerloop_name(self.name)


def parse_requirement(text: str) -> Requirement:
    """Parse one PEP 508 requirement string (names, extras, specifier, marker)."""
    match = _REQUIREMENT.match(text)
    if match is None:
        raise PackageError(f"cannot parse requirement {text!r}")
    spec = match["spec"].strip()
    if spec.startswith("(") and spec.endswith(")"):
        spec = spec[1:-1].strip()
    extras = tuple(e.strip() for e in (match["extras"] or "").split(",") if e.strip())
    return Requirement(
        raw=text,
        name=match["name"],
        extras=extras,
        specifier=spec.replace(" ", ""),
        marker=(match["marker"] or "").strip(),
    )


@dataclass(frozen=True, slots=True)
class Package:
    """One distribution under ``packages/``."""

    name: str
    import_name: str
    version: str
    path: Path
    requirements: tuple[Requirement, ...]
    optional_requirements: Mapping[str, tuple[Requirement, ...]]
    test_requirements: tuple[Requirement, ...]
    pyproject: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        """The normalized distribution name."""
        return normalize(self.name)

    @property
    def dirname(self) -> str:
        """The directory name under ``packages/`` (also the tox environment name)."""
        return self.path.name

    @property
    def src_dir(self) -> Path:
        """The directory the import package lives in: ``src/<import_name>``."""
        return self.path / "src" / self.import_name

    @property
    def tests_dir(self) -> Path:
        return self.path / "tests"

    @property
    def layer_requirements(self) -> tuple[Requirement, ...]:
        """The runtime requirements that name layerloop distributions."""
        return tuple(r for r in self.requirements if r.is_layerloop)

    @property
    def layer_deps(self) -> tuple[str, ...]:
        """Normalized names of the layerloop distributions this one depends on at runtime."""
        return tuple(r.key for r in self.layer_requirements)

    @property
    def all_layer_requirements(self) -> tuple[Requirement, ...]:
        """Runtime and optional (extras) requirements that name layerloop distributions."""
        out = list(self.layer_requirements)
        for reqs in self.optional_requirements.values():
            out.extend(r for r in reqs if r.is_layerloop)
        return tuple(out)

    @property
    def test_layer_deps(self) -> tuple[str, ...]:
        """Layerloop distributions the tests need on top of the runtime ones."""
        return tuple(r.key for r in self.test_requirements if r.is_layerloop)

    @property
    def third_party_test_requirements(self) -> tuple[str, ...]:
        return tuple(r.raw for r in self.test_requirements if not r.is_layerloop)


@dataclass(frozen=True, slots=True)
class Contract:
    """The layer contract from the root ``pyproject.toml``::

        [tool.layerloop]
        meta = "layerloop"            # the meta-package: pins exact versions

        [tool.layerloop.layers]       # distribution -> what it may depend on (and import)
        layerloop-core = []
        layerloop-selector = ["layerloop-core"]
        layerloop = "*"               # "*": any other distribution

    ``allowed`` maps normalized names to a frozenset of normalized names, or ``None`` for
    ``"*"``.
    """

    meta: str
    allowed: Mapping[str, frozenset[str] | None]

    def permits(self, package: str, dependency: str) -> bool:
        """Whether the contract lets ``package`` depend on ``dependency``."""
        package, dependency = normalize(package), normalize(dependency)
        if package == dependency or package not in self.allowed:
            return package == dependency
        allowed = self.allowed[package]
        return allowed is None or dependency in allowed


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PackageError(f"{path}: {exc}") from exc


def load_contract(root: Path = REPO_ROOT) -> Contract:
    """Read ``[tool.layerloop]`` from the root ``pyproject.toml``."""
    path = root / "pyproject.toml"
    table = _read_toml(path).get("tool", {}).get("layerloop", {})
    meta = table.get("meta", "layerloop")
    if not isinstance(meta, str):
        raise PackageError(f"{path}: [tool.layerloop] meta must be a string")
    layers = table.get("layers", {})
    if not isinstance(layers, dict):
        raise PackageError(f"{path}: [tool.layerloop.layers] must be a table")
    allowed: dict[str, frozenset[str] | None] = {}
    for name, deps in layers.items():
        if deps == "*":
            allowed[normalize(name)] = None
        elif isinstance(deps, list) and all(isinstance(d, str) for d in deps):
            allowed[normalize(name)] = frozenset(normalize(d) for d in deps)
        else:
            raise PackageError(
                f"{path}: [tool.layerloop.layers] {name} must be a list of names or '*'"
            )
    return Contract(meta=normalize(meta), allowed=allowed)


def read_version(version_file: Path) -> str:
    """The ``__version__`` string literal assigned in ``version_file`` (parsed, not run)."""
    try:
        tree = ast.parse(version_file.read_text(encoding="utf-8"), str(version_file))
    except (OSError, SyntaxError) as exc:
        raise PackageError(f"{version_file}: {exc}") from exc
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "__version__" for t in targets):
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
            raise PackageError(f"{version_file}: __version__ must be a string literal")
    raise PackageError(f"{version_file}: no __version__ assignment")


def _import_name(pkg_dir: Path, pyproject: Mapping[str, Any], dist_name: str) -> str:
    wheel = pyproject.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {})
    targets = wheel.get("wheel", {}).get("packages")
    if isinstance(targets, list) and targets and isinstance(targets[0], str):
        return Path(targets[0]).name
    src = pkg_dir / "src"
    candidates = (
        sorted(p.name for p in src.iterdir() if p.is_dir() and p.name.isidentifier())
        if src.is_dir()
        else []
    )
    if len(candidates) == 1:
        return candidates[0]
    guess = normalize(dist_name).replace("-", "_")
    if guess in candidates or not candidates:
        return guess
    raise PackageError(f"{pkg_dir}: cannot tell the import package among {candidates}")


def _requirements(values: object, where: str) -> tuple[Requirement, ...]:
    if values is None:
        return ()
    if not isinstance(values, list):
        raise PackageError(f"{where} must be a list")
    return tuple(parse_requirement(v) for v in values if isinstance(v, str))


def _dependency_group(
    groups: Mapping[str, Any], name: str, where: str, seen: frozenset[str] = frozenset()
) -> tuple[Requirement, ...]:
    if name in seen:
        raise PackageError(f"{where}: dependency group {name!r} includes itself")
    out: list[Requirement] = []
    for item in groups.get(name, []):
        if isinstance(item, str):
            out.append(parse_requirement(item))
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            out.extend(_dependency_group(groups, item["include-group"], where, seen | {name}))
    return tuple(out)


def load_package(pkg_dir: Path) -> Package:
    """Read one ``packages/<dir>/`` directory."""
    pyproject_path = pkg_dir / "pyproject.toml"
    data = _read_toml(pyproject_path)
    project = data.get("project")
    if not isinstance(project, dict) or not isinstance(project.get("name"), str):
        raise PackageError(f"{pyproject_path}: no [project] name")
    name: str = project["name"]
    import_name = _import_name(pkg_dir, data, name)
    version = read_version(pkg_dir / "src" / import_name / "_version.py")
    optional = project.get("optional-dependencies", {}) or {}
    if not isinstance(optional, dict):
        raise PackageError(f"{pyproject_path}: optional-dependencies must be a table")
    groups = data.get("dependency-groups", {}) or {}
    return Package(
        name=name,
        import_name=import_name,
        version=version,
        path=pkg_dir,
        requirements=_requirements(project.get("dependencies"), f"{pyproject_path}"),
        optional_requirements={
            extra: _requirements(reqs, f"{pyproject_path} [{extra}]")
            for extra, reqs in optional.items()
        },
        test_requirements=_dependency_group(groups, "test", str(pyproject_path)),
        pyproject=data,
    )


def _toposort(packages: Sequence[Package]) -> list[Package]:
    """Dependencies before dependents, alphabetical among equals; raises on a cycle."""
    by_key = {p.key: p for p in packages}
    done: dict[str, Package] = {}
    visiting: list[str] = []

    def visit(pkg: Package) -> None:
        if pkg.key in done:
            return
        if pkg.key in visiting:
            cycle = [*visiting[visiting.index(pkg.key) :], pkg.key]
            raise PackageError("dependency cycle: " + " -> ".join(cycle))
        visiting.append(pkg.key)
        for dep in sorted(pkg.layer_deps):
            if dep in by_key:
                visit(by_key[dep])
        visiting.pop()
        done[pkg.key] = pkg

    for pkg in sorted(packages, key=lambda p: p.key):
        visit(pkg)
    return list(done.values())


def discover(root: Path = REPO_ROOT) -> list[Package]:
    """Every ``packages/*/pyproject.toml`` under ``root``, dependencies first."""
    pkg_root = root / "packages"
    if not pkg_root.is_dir():
        return []
    found = [
        load_package(d)
        for d in sorted(pkg_root.iterdir())
        if d.is_dir() and (d / "pyproject.toml").is_file()
    ]
    keys = [p.key for p in found]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise PackageError(f"distribution names used twice: {', '.join(dupes)}")
    return _toposort(found)


def find_package(name: str, packages: Sequence[Package]) -> Package:
    """The package whose directory name, distribution name or import name is ``name``."""
    for pkg in packages:
        if name in (pkg.dirname, pkg.import_name) or normalize(name) == pkg.key:
            return pkg
    raise PackageError(f"no package named {name!r} under packages/")


def closure(
    names: Iterable[str], packages: Sequence[Package], *, with_tests: bool = False
) -> list[Package]:
    """The named packages plus every layerloop package they need, dependencies first.

    ``with_tests`` adds the layerloop test requirements of the named packages (not of
    their dependencies: a dependency's tests are not run).
    """
    by_key = {p.key: p for p in packages}
    wanted: set[str] = set()
    stack: list[str] = []
    for name in names:
        pkg = find_package(name, packages)
        stack.append(pkg.key)
        if with_tests:
            stack.extend(pkg.test_layer_deps)
    while stack:
        key = stack.pop()
        if key in wanted:
            continue
        if key not in by_key:
            raise PackageError(f"{key} is required but is not a package of this repository")
        wanted.add(key)
        stack.extend(by_key[key].layer_deps)
    return [p for p in packages if p.key in wanted]


def _as_json(packages: Sequence[Package]) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "import_name": p.import_name,
            "version": p.version,
            "path": str(p.path),
            "layer_dependencies": [r.raw for r in p.layer_requirements],
            "dependencies": [r.raw for r in p.requirements],
            "test_requirements": [r.raw for r in p.test_requirements],
        }
        for p in packages
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        packages = discover()
    except PackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if "--json" in args:
        print(json.dumps(_as_json(packages), indent=2))
        return 0
    for p in packages:
        deps = ", ".join(r.raw for r in p.layer_requirements) or "-"
        print(f"{p.name:<22} {p.version:<10} {p.import_name:<22} {deps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
