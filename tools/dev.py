#!/usr/bin/env python3
"""Bootstrap the development tools and run them: the README's two commands.

    python3 tools/dev.py demo          run the demo on layerloop   (nox -s demo)
    python3 tools/dev.py test          run the whole test suite    (nox: every default session)
    python3 tools/dev.py nox ARGS...   any nox command, e.g. `nox -s bench` or `nox -l`

The first run creates ``.venv-tools/`` (a virtual environment holding only nox and uv, at
the versions in ``tools/constraints.txt``, installed by pip with this machine's pip
configuration); every later run reuses it.  nox then creates one environment per session
under ``.nox/`` with uv.  Only the standard library is used here, and any Python 3 can
start it: if the one running it is older than 3.11 it looks for a 3.11+ interpreter
(pyenv, then PATH) and re-runs itself with that.

``test`` runs nox's default sessions as two streams at once (see ``TEST_STREAMS``: the
package tests and checks in one, the integration suites and the wheel tests in the
other), their output interleaved line by line with the stream's name in front; with
``LAYERLOOP_TEST_JOBS=1``, or with any nox arguments after ``test``, it runs one nox
command instead.  It ends with the totals of every pytest run (from the JUnit reports
the sessions write to ``.nox/_reports/``) and exits non-zero if any stream failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-tools"
CONSTRAINTS = ROOT / "tools" / "constraints.txt"
REPORTS = ROOT / ".nox" / "_reports"
STAMP = VENV / ".layerloop-tools"
MIN_PYTHON = (3, 11)


def _say(message: str) -> None:
    print(f"dev.py: {message}", flush=True)


def _pinned(*names: str) -> list[str]:
    """``name==version`` lines for ``names`` from tools/constraints.txt."""
    pins = {}
    for raw in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            pins[line.split("==", 1)[0].strip().lower()] = line
    return [pins.get(n, n) for n in names]


def _venv_python() -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return VENV / scripts / ("python.exe" if os.name == "nt" else "python")


def _newer_python() -> str | None:
    """A Python >= 3.11 to re-run this script with, or None."""
    candidates = []
    pyenv_roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    for root in filter(None, pyenv_roots):
        versions = Path(root) / "versions"
        if versions.is_dir():
            for minor in (13, 12, 11):
                candidates.extend(sorted(versions.glob(f"3.{minor}.*/bin/python3.{minor}")))
    for minor in (13, 12, 11):
        found = shutil.which(f"python3.{minor}")
        if found:
            candidates.append(Path(found))
    check = "import sys; sys.exit(sys.version_info < (3, 11))"
    for exe in candidates:
        try:
            if subprocess.run([str(exe), "-c", check], check=False, timeout=30).returncode == 0:
                return str(exe)
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def ensure_tools() -> Path:
    """Create or refresh .venv-tools (nox + uv); returns its interpreter."""
    wanted = "\n".join(_pinned("nox", "uv"))
    python = _venv_python()
    if python.exists() and STAMP.exists() and STAMP.read_text(encoding="utf-8") == wanted:
        probe = subprocess.run(
            [str(python), "-c", "import nox, uv"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return python
    if VENV.exists():
        _say(f"refreshing {VENV.name}/")
        shutil.rmtree(VENV)
    _say(f"creating {VENV.name}/ with {wanted.replace(chr(10), ' and ')} (first run only)")
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-qq",  # -qq: errors only (no warnings about pip.conf's local indexes)
            "--disable-pip-version-check",
            *_pinned("nox", "uv"),
        ],
        check=True,
    )
    STAMP.write_text(wanted, encoding="utf-8")
    return python


def _totals() -> list[tuple[str, int, int, int]]:
    """(session, passed, failed, skipped) per session, from the JUnit reports."""
    per_session: dict[str, list[int]] = {}
    for report in sorted(REPORTS.glob("*.xml")) if REPORTS.is_dir() else []:
        session = report.stem.split("--", 1)[0]
        try:
            root = ET.parse(report).getroot()
        except ET.ParseError:
            continue
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        counts = per_session.setdefault(session, [0, 0, 0])
        for suite in suites:
            tests = int(suite.get("tests", 0))
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            counts[0] += tests - failed - skipped
            counts[1] += failed
            counts[2] += skipped
    return [(name, c[0], c[1], c[2]) for name, c in per_session.items()]


#: nox's default sessions (``nox.options.sessions`` in noxfile.py, which a test checks
#: against this) split into two streams of about equal length that ``test`` runs at once:
#: most sessions are one pytest process at a time, so on two cores the streams overlap
#: well.  A stream stops at its first failing session only if nox would.
TEST_STREAMS: tuple[tuple[str, ...], ...] = (
    ("layers", "lint", "typecheck", "tests", "docs", "demo"),
    ("integration", "wheels"),
)


def _nox_command(python: Path, args: list[str]) -> list[str]:
    return [str(python), "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), *args]


def _run_nox(python: Path, args: list[str]) -> int:
    _say("running " + " ".join(["nox", *args]))
    return subprocess.run(_nox_command(python, args), cwd=ROOT, check=False).returncode


def _relay(name: str, stream: subprocess.Popen[bytes], lock: threading.Lock) -> None:
    """Copy a stream's output to ours a line at a time, each line prefixed by ``name``."""
    assert stream.stdout is not None
    for raw in iter(stream.stdout.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        with lock:
            print(f"[{name}] {line}", flush=True)


def _run_streams(python: Path, streams: tuple[tuple[str, ...], ...]) -> int:
    """Run one nox command per stream of sessions at the same time; the worst status."""
    lock = threading.Lock()
    running = []
    for sessions in streams:
        name = sessions[0]
        _say(f"stream {name}: nox -s {' '.join(sessions)}")
        proc = subprocess.Popen(
            _nox_command(python, ["-s", *sessions]),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        relay = threading.Thread(target=_relay, args=(name, proc, lock), daemon=True)
        relay.start()
        running.append((name, proc, relay))
    worst = 0
    for name, proc, relay in running:
        code = proc.wait()
        relay.join()
        _say(f"stream {name} finished with exit status {code}")
        worst = worst or code
    return worst


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "nox"):
        print(__doc__)
        return 2
    if sys.version_info < MIN_PYTHON:
        other = _newer_python()
        if other is None:
            _say("needs Python 3.11 or newer (none found on PATH or under pyenv)")
            return 1
        return subprocess.run([other, __file__, *argv], check=False).returncode
    command, rest = argv[0], argv[1:]
    python = ensure_tools()
    if command == "demo":
        return _run_nox(python, ["-s", "demo", *(["--", *rest] if rest else [])])
    if command == "nox":
        return _run_nox(python, rest)
    if REPORTS.is_dir():
        shutil.rmtree(REPORTS)
    started = time.monotonic()
    if rest or os.environ.get("LAYERLOOP_TEST_JOBS", "2") == "1":
        code = _run_nox(python, rest)
    else:
        code = _run_streams(python, TEST_STREAMS)
    minutes, seconds = divmod(int(time.monotonic() - started), 60)
    totals = _totals()
    for name, passed, failed, skipped in totals:
        _say(f"{name}: {passed} passed, {failed} failed, {skipped} skipped")
    _say(f"nox finished in {minutes}m{seconds:02d}s with exit status {code}")
    passed = sum(t[1] for t in totals)
    failed = sum(t[2] for t in totals)
    skipped = sum(t[3] for t in totals)
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
