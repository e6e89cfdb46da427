"""Build this repository's wheels and test one package against its installed wheel.

Used by ``tools/tox.ini`` (one environment per package); runs with the environment's own
interpreter, and needs only the standard library and ``uv`` (the tox environments install
it).  Three commands:

``build --out DIR [NAME ...]``
    Build the sdist and, from it, the wheel of each named package (default: all) into DIR.

``install NAME --wheels DIR``
    Into the running interpreter's environment: remove every installed layerloop
    distribution, build the wheels of NAME and of every layerloop distribution it (or its
    ``[dependency-groups] test``) needs, then install NAME (and its layerloop test
    requirements) *from DIR only* (``--no-index``) so the resolver can pull in nothing but
    what NAME declares; then the third-party test requirements from the index.  Finally
    verify: the installed layerloop distributions are exactly NAME's closure, at this
    repository's versions, and NAME imports from site-packages, not from the source tree.

``--root DIR`` (any command) works on the repository at DIR instead of this one.

``test NAME [PYTEST ARGS ...]``
    Run ``packages/NAME/tests`` with pytest from the current directory (tox runs it from a
    temporary directory).  A tests directory with no test files yet is reported and passes;
    one whose files collect nothing fails.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.packages import (
    REPO_ROOT,
    Package,
    PackageError,
    closure,
    discover,
    find_package,
    is_layerloop_name,
    normalize,
)

__all__ = [
    "PYTEST_ARGS",
    "build",
    "has_test_files",
    "install",
    "main",
    "run_tests",
    "write_crash_report",
]

CONSTRAINTS = REPO_ROOT / "tools" / "constraints.txt"

#: Options every pytest run of this repository gets: a hung test fails (the thread method
#: dumps every thread's stack, then exits) instead of eating the CI budget.  The thread
#: method is used because tests exercise SIGALRM themselves.
PYTEST_ARGS = ("--timeout=60", "--timeout-method=thread", "-p", "no:cacheprovider")


def _uv() -> list[str]:
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    found = shutil.which("uv")
    if found is None:
        raise SystemExit("wheelhouse: uv is needed (pip install uv)")
    return [found]


def _run(cmd: Sequence[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def build(packages: Sequence[Package], out: Path) -> None:
    """Build each package's sdist, then its wheel from that sdist, into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for pkg in packages:
        _run([*_uv(), "build", "--quiet", "--out-dir", str(out), str(pkg.path)])


def _installed_layerloop() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and is_layerloop_name(name):
            found[normalize(name)] = dist.version
    return found


def _is_installed_copy(origin: str | None, pkg: Package) -> bool:
    """Whether ``origin`` is in this environment's site-packages, not the source tree."""
    if origin is None:
        return False
    path = Path(origin).resolve()
    site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    in_site = any(path.is_relative_to(s) for s in site)
    return in_site and not path.is_relative_to(pkg.path.resolve())


def install(name: str, wheels: Path, packages: Sequence[Package]) -> None:
    """Install ``name`` from freshly built wheels with only its declared dependencies."""
    target = find_package(name, packages)
    wanted = closure([name], packages, with_tests=True)
    stale = _installed_layerloop()
    if stale:
        _run([*_uv(), "pip", "uninstall", "--python", sys.executable, *sorted(stale)])
    if wheels.exists():
        shutil.rmtree(wheels)
    build(wanted, wheels)
    roots = [target, *(p for p in packages if p.key in target.test_layer_deps)]
    _run(
        [
            *_uv(),
            "pip",
            "install",
            "--python",
            sys.executable,
            "--no-index",
            # Wheels of one version are rebuilt with new contents all the time here; uv's
            # cache would hand back the first build of a name-version from a find-links
            # directory, so it must not be read.
            "--no-cache",
            "--find-links",
            str(wheels),
            "--only-binary",
            ":all:",
            *(f"{p.name}=={p.version}" for p in roots),
        ]
    )
    third_party = ["pytest", "pytest-timeout", *target.third_party_test_requirements]
    _run(
        [
            *_uv(),
            "pip",
            "install",
            "--python",
            sys.executable,
            "-c",
            str(CONSTRAINTS),
            *third_party,
        ]
    )
    verify(target, wanted)


def verify(target: Package, wanted: Sequence[Package]) -> None:
    """Fail unless exactly ``wanted`` is installed, from wheels, at this repo's versions."""
    installed = _installed_layerloop()
    expected = {p.key: p.version for p in wanted}
    if installed != expected:
        raise SystemExit(
            f"wheelhouse: installed layerloop distributions {installed} differ from "
            f"what {target.name} and its tests declare {expected}"
        )
    for pkg in wanted:
        spec = importlib.util.find_spec(pkg.import_name)
        origin = None if spec is None else spec.origin
        if not _is_installed_copy(origin, pkg):
            raise SystemExit(
                f"wheelhouse: {pkg.import_name} imports from {origin}, not from an installed wheel"
            )
    shown = ", ".join(f"{k} {v}" for k, v in sorted(installed.items()))
    print(f"wheelhouse: {target.name} installed from its wheel with only: {shown}")


def has_test_files(directory: Path) -> bool:
    """Whether ``directory`` holds any pytest test module (test_*.py or *_test.py)."""
    if not directory.is_dir():
        return False
    return any(
        p.name.startswith("test_") or p.name.endswith("_test.py")
        for p in directory.rglob("*.py")
        if "__pycache__" not in p.parts
    )


def write_crash_report(path: Path, label: str) -> None:
    """A JUnit report with one error, for a pytest run that died without writing its own
    (pytest-timeout ends a hung run with ``os._exit``): the run still counts as failed in
    the totals ``tools/dev.py test`` prints."""
    text = f"{label}: pytest ended without a report (a hang killed by --timeout?)"
    attr = {'"': "&quot;"}
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<testsuites><testsuite name="{escape(label, attr)}" tests="1" errors="1" '
        f'failures="0" skipped="0"><testcase classname="pytest" name="{escape(text, attr)}">'
        f'<error message="{escape(text, attr)}"/></testcase></testsuite></testsuites>\n',
        encoding="utf-8",
    )


def run_tests(directory: Path, extra: Sequence[str]) -> int:
    """pytest over ``directory``; an empty test directory passes with a message."""
    if not has_test_files(directory):
        print(f"wheelhouse: no test files in {directory} yet: nothing to run")
        return 0
    cmd = [sys.executable, "-m", "pytest", str(directory), *PYTEST_ARGS, *extra]
    print("+", " ".join(cmd), flush=True)
    code = subprocess.run(cmd, check=False).returncode
    if code == 5:
        print(f"wheelhouse: {directory} has test files but pytest collected no test")
    return code


def _usage() -> int:
    print(__doc__, file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        return _usage()
    command, rest = args[0], args[1:]
    root = REPO_ROOT
    if "--root" in rest and rest.index("--root") + 1 < len(rest):
        i = rest.index("--root")
        root = Path(rest[i + 1]).resolve()
        del rest[i : i + 2]
    try:
        packages = discover(root)
        if command == "build":
            if "--out" not in rest or rest.index("--out") + 1 >= len(rest):
                return _usage()
            i = rest.index("--out")
            out = Path(rest[i + 1])
            names = rest[:i] + rest[i + 2 :]
            build(closure(names, packages) if names else packages, out)
        elif command == "install":
            if len(rest) != 3 or rest[1] != "--wheels":
                return _usage()
            install(rest[0], Path(rest[2]), packages)
        elif command == "test":
            if not rest:
                return _usage()
            pkg = find_package(rest[0], packages)
            return run_tests(pkg.tests_dir, rest[1:])
        else:
            return _usage()
    except PackageError as exc:
        print(f"wheelhouse: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"wheelhouse: command failed with status {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    sys.exit(main())
