"""The one entry point: every check of the repository is a nox session.

The packages are discovered from ``packages/*/pyproject.toml`` (``tools/packages.py``), so
a new layer is tested, typechecked, documented and wheel-tested without touching this file.

Sessions (``nox -l`` lists them; ``nox`` runs all but ``bench``):

``layers``       the layer contract and pin checks (tools/check_*.py) and their own tests
``lint``         ruff check over the whole tree
``typecheck``    mypy --strict over every package (-p), for linux, darwin and win32
``tests-3.X``    each package's tests/ against editable installs of all packages
``integration-3.X``  tests-integration/ against the assembled loop, on every installed
                 backend (CPython's bound tests on poll and select on one Python only)
``integration-uring-3.X``  CPython's bound tests (and the rest) on io_uring alone, on
                 every Python (not default; the default run includes them)
``wheels``       tox -c tools/tox.ini: each package's wheel alone with its declared deps
``docs``         the Sphinx site, warnings are errors
``demo``         python -m layerloop demo
``bench``        python -m layerloop bench, with uvloop installed (not in the default run)
``soak-3.X``     the transports reliability tests at full size on every loop (not default)

Python 3.11, 3.12 and 3.13 are looked for under ``$(pyenv root)/versions`` and on PATH; a
missing one is skipped with a message, never a failure.  Development tool versions come
from ``tools/constraints.txt``.  pytest runs write JUnit reports to ``.nox/_reports/``
(``tools/dev.py test`` totals them).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import nox
import nox.command

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from tools import packages as repo  # noqa: E402
from tools.interpreters import find_interpreter, pyenv_roots  # noqa: E402
from tools.wheelhouse import PYTEST_ARGS, has_test_files, write_crash_report  # noqa: E402

nox.needs_version = ">=2025.2.9"

CONSTRAINTS = ROOT / "tools" / "constraints.txt"
REPORTS = ROOT / ".nox" / "_reports"
SHIMS = ROOT / ".nox" / "_pythons"
INTEGRATION = ROOT / "tests-integration"
SUPPORTED = ("3.11", "3.12", "3.13")

#: mypy runs: every platform at the oldest Python, and linux at the newer ones (their
#: version-gated branches).
MYPY_MATRIX = (
    ("linux", "3.11"),
    ("darwin", "3.11"),
    ("win32", "3.11"),
    ("linux", "3.12"),
    ("linux", "3.13"),
)


# -- interpreters -------------------------------------------------------------------------


def _prepare_interpreters() -> list[str]:
    """Find each supported Python and put it first on PATH as ``python3.X``.

    nox (and uv) then resolve ``"3.12"`` to exactly the interpreter found here, and never
    to a pyenv shim that exits with "command not found".  Returns the versions found.
    """
    roots = pyenv_roots()
    SHIMS.mkdir(parents=True, exist_ok=True)
    found: list[str] = []
    for version in SUPPORTED:
        link = SHIMS / f"python{version}"
        exe = find_interpreter(version, roots)
        current = os.readlink(link) if link.is_symlink() else None
        if (link.is_symlink() or link.exists()) and (exe is None or current != str(exe)):
            link.unlink(missing_ok=True)
        if exe is None:
            where = ", ".join(str(r / "versions") for r in roots) or "no pyenv root"
            print(
                f"noxfile: Python {version} not found ({where}; PATH): "
                f"tests-{version} and integration-{version} will be SKIPPED",
                file=sys.stderr,
            )
            continue
        if not link.is_symlink():
            with contextlib.suppress(FileExistsError):  # another nox process was quicker
                link.symlink_to(exe)
        found.append(version)
    os.environ["PATH"] = f"{SHIMS}{os.pathsep}{os.environ.get('PATH', '')}"
    return found


AVAILABLE = _prepare_interpreters()
#: Sessions that need one interpreter use the oldest supported Python that is installed.
TOOLS_PYTHON = AVAILABLE[0] if AVAILABLE else SUPPORTED[0]

os.environ["UV_PYTHON_DOWNLOADS"] = "never"  # never fetch an interpreter from the network
nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = False  # a missing Python is skipped, not failed
nox.options.download_python = "never"
nox.options.reuse_venv = "yes"
nox.options.sessions = [
    "layers",
    "lint",
    "typecheck",
    "tests",
    "integration",
    "wheels",
    "docs",
    "demo",
]


# -- helpers ------------------------------------------------------------------------------


def _packages() -> list[repo.Package]:
    return repo.discover(ROOT)


def _install(session: nox.Session, pkgs: list[repo.Package], *extra: str) -> None:
    """Editable installs of ``pkgs`` (one resolver run, so layerloop requirements are
    satisfied by these checkouts, never by an index) plus ``extra`` requirements."""
    editables = [arg for p in pkgs for arg in ("-e", str(p.path))]
    session.install(*editables, *extra, "-c", str(CONSTRAINTS))


def _test_requirements(pkgs: list[repo.Package]) -> list[str]:
    reqs = ["pytest", "pytest-timeout"]
    for pkg in pkgs:
        reqs.extend(r for r in pkg.third_party_test_requirements if r not in reqs)
    return reqs


def _report_path(session: nox.Session, label: str) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / f"{session.name}--{label}.xml"
    path.unlink(missing_ok=True)
    return path


def _pytest(session: nox.Session, directory: Path, label: str, *args: str) -> bool:
    """pytest over ``directory`` (with ``args`` before the session's own); True on
    success.  An empty test directory passes with a message (exit 5 is accepted only
    then); a failure is reported and the caller goes on."""
    rel = directory.relative_to(ROOT)
    if not has_test_files(directory):
        session.warn(f"{rel}: no test files yet, nothing to run")
        return True
    report = _report_path(session, label)
    try:
        session.run(
            "pytest", str(rel), *PYTEST_ARGS, f"--junitxml={report}", *args, *session.posargs
        )
    except nox.command.CommandFailed:
        if not report.exists():
            write_crash_report(report, f"{session.name} {rel}")
        return False
    return True


# -- sessions -----------------------------------------------------------------------------


@nox.session(python=TOOLS_PYTHON)
def layers(session: nox.Session) -> None:
    """The layer contract (imports) and the pins, then the tests of those checks."""
    session.install("packaging", "pytest", "pytest-timeout", "uv", "-c", str(CONSTRAINTS))
    failed = []
    for check in ("tools.check_layers", "tools.check_pins"):
        try:
            session.run("python", "-m", check)
        except nox.command.CommandFailed:
            failed.append(check)
    if not _pytest(session, ROOT / "tools" / "tests", "tools"):
        failed.append("tools/tests")
    if failed:
        session.error(f"failed: {', '.join(failed)}")


@nox.session(python=TOOLS_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check over the repository (settings in the root pyproject.toml)."""
    session.install("ruff", "-c", str(CONSTRAINTS))
    session.run("ruff", "check", ".", *session.posargs)


@nox.session(python=TOOLS_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package, as linux, darwin and win32; then tools/."""
    pkgs = _packages()
    _install(session, pkgs, "mypy", "uvloop", "nox", "uv", *_test_requirements(pkgs))
    python = str(Path(session.bin) / "python")
    env = {"MYPYPATH": os.pathsep.join(str(p.path / "src") for p in pkgs)}
    modules = [arg for p in pkgs for arg in ("-p", p.import_name)]
    failed = []
    for platform, version in MYPY_MATRIX:
        try:
            session.run(
                "mypy",
                "--platform",
                platform,
                "--python-version",
                version,
                "--python-executable",
                python,
                "--cache-dir",
                str(ROOT / ".mypy_cache" / f"nox-{platform}-{version}"),
                *modules,
                env=env,
            )
        except nox.command.CommandFailed:
            failed.append(f"{platform}/{version}")
    files = ["noxfile.py"]
    type_tests = INTEGRATION / "type_tests"
    if type_tests.is_dir():
        files.append(str(type_tests.relative_to(ROOT)))
    for what in (["-p", "tools"], files):
        try:
            session.run("mypy", "--python-executable", python, *what, env=env)
        except nox.command.CommandFailed:
            failed.append(" ".join(what))
    if failed:
        session.error(f"mypy failed for: {', '.join(failed)}")


#: The default run keeps the whole backend matrix on one Python (the newest here) and
#: narrows it on the others, to stay well under 30 minutes on a 2-core machine: there
#: the transports tests and CPython's bound tests run on epoll and io_uring (with
#: asyncio's epoll loop as the transports tests' oracle).  The Python-dependent behaviour is
#: what differs between Pythons, and the epoll runs plus the oracle cover it; the
#: backend-dependent behaviour is covered on the full-matrix Python.  ``nox -s
#: tests-full`` and ``nox -s integration-full`` run the whole matrix on every Python.
FULL_MATRIX_PYTHON = AVAILABLE[-1] if AVAILABLE else SUPPORTED[-1]
NARROW_TEST_BACKENDS = "epoll,uring"
NARROW_CPYTHON_SKIPPED_BACKENDS = "poll,select"


def _run_package_tests(session: nox.Session) -> None:
    pkgs = _packages()
    _install(session, pkgs, *_test_requirements(pkgs))
    failed = [p.name for p in pkgs if not _pytest(session, p.tests_dir, p.dirname)]
    if failed:
        session.error(f"tests failed in: {', '.join(failed)}")


@nox.session(python=list(SUPPORTED))
def tests(session: nox.Session) -> None:
    """Each package's tests/, against editable installs of every package (the backend
    matrix narrowed except on FULL_MATRIX_PYTHON)."""
    if session.python != FULL_MATRIX_PYTHON:
        session.env["LAYERLOOP_TEST_BACKENDS"] = NARROW_TEST_BACKENDS
    _run_package_tests(session)


@nox.session(name="tests-full", python=list(SUPPORTED))
def tests_full(session: nox.Session) -> None:
    """Each package's tests on every backend, on every Python (not default)."""
    _run_package_tests(session)


#: CPython's bound tests run on io_uring on every Python in the default run (about 50 s
#: per Python): the proactor is the backend most likely to differ from asyncio, and the
#: issue that built it asks for its conformance in the default command.  Those on poll
#: and select run on FULL_MATRIX_PYTHON only.  Every other suite of tests-integration/
#: (layerloop-testing's, the real libraries, the harness's own) runs on every backend on
#: every Python.  ``nox -s integration-uring`` runs everything bound to io_uring alone.


@nox.session(python=list(SUPPORTED))
def integration(session: nox.Session) -> None:
    """tests-integration/: the assembled loop, conformance suites, CPython's tests."""
    _integration_env(session)
    if session.python != FULL_MATRIX_PYTHON:
        session.env["LAYERLOOP_IT_CPYTHON_SKIP_BACKENDS"] = NARROW_CPYTHON_SKIPPED_BACKENDS
    if not _pytest(session, INTEGRATION, "integration"):
        session.error("integration tests failed")


@nox.session(name="integration-full", python=list(SUPPORTED))
def integration_full(session: nox.Session) -> None:
    """tests-integration/ with CPython's tests bound to every backend, on every Python
    (not default)."""
    _integration_env(session)
    if not _pytest(session, INTEGRATION, "integration-full"):
        session.error("integration tests failed")


@nox.session(name="integration-uring", python=list(SUPPORTED))
def integration_uring(session: nox.Session) -> None:
    """tests-integration/ on io_uring only (``-k uring``), CPython's bound tests included,
    on every Python (not default; a quick check of the proactor alone)."""
    _integration_env(session)
    if not _pytest(session, INTEGRATION, "integration-uring", "-k", "uring"):
        session.error("integration tests on io_uring failed")


def _integration_env(session: nox.Session) -> None:
    pkgs = _packages()
    extra = INTEGRATION / "requirements.txt"  # third-party libraries the scenarios drive
    more = ["-r", str(extra)] if extra.is_file() else []
    _install(session, pkgs, *_test_requirements(pkgs), *more)
    # The servers of tests-integration/libs (Debian packages), installed here rather than
    # in a fixture so that a slow apt-get is not counted against a test's timeout.  A
    # failure is not fatal here: the tests that need a server then skip saying why (and
    # fail in CI).
    services = ROOT / "tools" / "services.py"
    session.run("python", str(services), "install", "postgresql", "redis", success_codes=[0, 1])
    session.env["LAYERLOOP_SERVICES_INSTALL"] = "0"  # done above: the fixtures only start them


@nox.session(python=TOOLS_PYTHON)
def wheels(session: nox.Session) -> None:
    """tox -c tools/tox.ini: every package as a built wheel with only its declared deps."""
    session.install("tox", "-c", str(CONSTRAINTS))
    envs = ",".join(p.dirname for p in _packages())
    session.run("tox", "-c", str(ROOT / "tools" / "tox.ini"), "-e", envs, *session.posargs)


@nox.session(python=TOOLS_PYTHON)
def docs(session: nox.Session) -> None:
    """The Sphinx site; every warning is an error."""
    pkgs = _packages()
    _install(session, pkgs, "sphinx", *_test_requirements(pkgs))
    session.run(
        "sphinx-build",
        "-W",
        "--keep-going",
        "-E",
        "-q",
        "-b",
        "html",
        "docs",
        str(Path("docs") / "_build" / "html"),
        *session.posargs,
    )
    session.log(f"docs: {ROOT / 'docs' / '_build' / 'html' / 'index.html'}")


def _meta_closure(session: nox.Session) -> list[repo.Package]:
    pkgs = _packages()
    contract = repo.load_contract(ROOT)
    if not any(p.key == contract.meta for p in pkgs):
        session.error(f"the meta-package {contract.meta!r} is not under packages/ yet")
    return repo.closure([contract.meta], pkgs)


@nox.session(python=TOOLS_PYTHON)
def demo(session: nox.Session) -> None:
    """python -m layerloop demo: a real program on layerloop, printing what it does."""
    _install(session, _meta_closure(session))
    session.run("python", "-m", "layerloop", "demo", *session.posargs)


@nox.session(python=TOOLS_PYTHON)
def bench(session: nox.Session) -> None:
    """python -m layerloop bench: layerloop (each backend) vs asyncio vs uvloop."""
    # pycares: the dns_cares benchmark's CaresResolver (the layerloop-dns[cares] extra).
    _install(session, _meta_closure(session), "uvloop", "pycares>=5,<6")
    # The HTTP benchmark's load generator is wrk (Debian package); without it that one
    # benchmark reports itself unavailable.
    import shutil  # noqa: PLC0415

    if shutil.which("wrk") is None and shutil.which("apt-get") is not None:
        apt = ["apt-get"] if os.geteuid() == 0 else ["sudo", "-n", "apt-get"]
        with contextlib.suppress(nox.command.CommandFailed):
            session.run(*apt, "install", "-y", "-q", "wrk", external=True)
        if shutil.which("wrk") is None:
            session.warn("wrk could not be installed: the http_wrk benchmark will be skipped")
    session.run("python", "-m", "layerloop", "bench", *session.posargs)


@nox.session(python=list(SUPPORTED))
def soak(session: nox.Session) -> None:
    """The transports reliability tests with LAYERLOOP_SOAK=1: 1 GiB streams (plain and
    TLS) and 10,000 connect/close cycles on every backend and every asyncio oracle (the
    default run gives the full sizes to one backend per Python)."""
    pkgs = _packages()
    _install(session, pkgs, *_test_requirements(pkgs))
    tests = ROOT / "packages" / "transports" / "tests"
    session.run(
        "pytest",
        str(tests.relative_to(ROOT)),
        "-k",
        "reliability",
        "--timeout=900",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"LAYERLOOP_SOAK": "1"},
    )
