"""``python -m layerloop``: each command in a subprocess, as a user runs it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from layerloop_selector import available_backends

BACKENDS = available_backends()
try:
    from layerloop_proactor import probe_uring
except ImportError:  # the wheel test installs layerloop without the [uring] extra
    URING_OK = False
    URING_REASON = "layerloop-proactor is not installed (pip install 'layerloop[uring]')"
else:
    URING_OK = probe_uring().usable
    URING_REASON = probe_uring().reason


def cli(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYTHONASYNCIODEBUG", None)
    return subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-m", "layerloop", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_no_command_prints_help() -> None:
    proc = cli()
    assert proc.returncode == 2
    assert "info" in proc.stdout and "bench" in proc.stdout


def test_version() -> None:
    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"layerloop {importlib.metadata.version('layerloop')}"


def test_info() -> None:
    proc = cli("info")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for dist in ("layerloop-core", "layerloop-selector", "layerloop-dns", "layerloop-policy"):
        assert f"{dist:<24}{importlib.metadata.version(dist)}" in out
    assert f"default backend: {BACKENDS[0]}" in out
    assert "why:" in out
    for name in BACKENDS:
        assert f"  {name:<8}usable" in out


def test_info_json() -> None:
    proc = cli("info", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["distributions"]["layerloop-core"] == importlib.metadata.version("layerloop-core")
    # Every layer of the design is listed, installed or not.
    for dist in ("layerloop-proactor", "layerloop-transports", "layerloop-subprocess"):
        expected = importlib.metadata.version(dist) if _installed(dist) else None
        assert data["distributions"][dist] == expected
    assert data["default_backend"] == BACKENDS[0]
    usable = [n for n, s in data["backends"].items() if s["usable"]]
    # io_uring is listed after the selector backends, usable where its probe says so.
    assert usable == [*BACKENDS, "uring"] if URING_OK else usable == BACKENDS
    assert data["backends"]["uring"]["reason"] == (None if URING_OK else URING_REASON)
    assert data["python"]["version"] == ".".join(map(str, sys.version_info[:3]))


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.parametrize("backend", ["auto", *BACKENDS])
def test_demo(backend: str) -> None:
    proc = cli("demo", "--backend", backend)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    summary = lines[-1]
    assert summary.startswith("summary: 7/7 checks passed")
    assert f"backend {BACKENDS[0] if backend == 'auto' else backend})" in summary
    assert not [line for line in lines if "FAIL" in line]
    for step in (
        "timers",
        "tasks",
        "add_reader",
        "sock_* echo",
        "getaddrinfo",
        "call_soon_threadsafe",
    ):
        assert any(f"ok   {step}:" in line for line in lines), step
    assert proc.stderr == ""


def test_demo_bad_backend() -> None:
    proc = cli("demo", "--backend", "nope")
    assert proc.returncode == 2
    assert "unknown backend 'nope'" in proc.stderr
    assert "never awaited" not in proc.stderr


SCRIPT = """\
    import asyncio, sys
    import helper  # next to the script: the script's directory is on sys.path

    async def main():
        loop = asyncio.get_running_loop()
        print(type(loop).__module__.split(".")[0], loop.backend.name, loop.get_debug())
        return sys.argv[1:]

    print(__name__, asyncio.run(main()), helper.VALUE)
    if sys.argv[1:2] == ["exit"]:
        sys.exit(int(sys.argv[2]))
    if sys.argv[1:2] == ["raise"]:
        raise RuntimeError("boom")
"""


@pytest.fixture
def script_dir(tmp_path: Path) -> Path:
    (tmp_path / "target.py").write_text(textwrap.dedent(SCRIPT))
    (tmp_path / "helper.py").write_text("VALUE = 'helper'\n")
    return tmp_path


def test_run_script_uses_layerloop(script_dir: Path) -> None:
    proc = cli("run", str(script_dir / "target.py"), "a", "--b", cwd=Path.cwd())
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first == f"layerloop {BACKENDS[0]} False"
    assert second == "__main__ ['a', '--b'] helper"


def test_run_options(script_dir: Path) -> None:
    proc = cli("run", "--backend", "select", "--debug", "target.py", cwd=script_dir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "layerloop select True"


def test_run_module(script_dir: Path) -> None:
    proc = cli("run", "-m", "target", "x", "-m", cwd=script_dir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"layerloop {BACKENDS[0]} False",
        "__main__ ['x', '-m'] helper",
    ]


def test_run_exit_status_and_errors(script_dir: Path) -> None:
    proc = cli("run", "target.py", "exit", "7", cwd=script_dir)
    assert proc.returncode == 7
    proc = cli("run", "target.py", "raise", cwd=script_dir)
    assert proc.returncode == 1
    assert "RuntimeError: boom" in proc.stderr


def test_run_usage_errors(script_dir: Path) -> None:
    assert cli("run", cwd=script_dir).returncode == 2
    missing = cli("run", "missing.py", cwd=script_dir)
    assert missing.returncode == 2
    assert "can't open file 'missing.py'" in missing.stderr
    bad = cli("run", "--backend", "nope", "target.py", cwd=script_dir)
    assert bad.returncode == 2
    assert "unknown backend 'nope'" in bad.stderr


def test_console_script() -> None:
    script = shutil.which("layerloop", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the layerloop console script is not installed next to this Python")
    proc = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("layerloop ")


def test_bench_quick_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    loops = f"layerloop-{BACKENDS[0]},asyncio,no-such-loop"
    proc = cli(
        "bench",
        "--quick",
        "--loops",
        loops,
        "--benchmarks",
        "call_soon,getaddrinfo",
        "--seconds",
        "0.02",
        "--repeat",
        "2",
        "--json",
        str(out),
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    assert "call_soon" in text and "getaddrinfo" in text
    assert f"layerloop-{BACKENDS[0]}" in text
    assert "skipped no-such-loop: unavailable: unknown loop" in text
    data = json.loads(out.read_text())
    by_pair = {(r["case"], r["loop"]): r for r in data["results"]}
    for case in ("call_soon", "getaddrinfo"):
        assert by_pair[case, "asyncio"]["vs_asyncio"] == 1.0
        ours = by_pair[case, f"layerloop-{BACKENDS[0]}"]
        assert len(ours["samples"]) == 2
        assert ours["best"] > 0
        assert ours["vs_asyncio"] == pytest.approx(ours["best"] / by_pair[case, "asyncio"]["best"])


def test_bench_unknown_benchmark() -> None:
    proc = cli("bench", "--benchmarks", "nope")
    assert proc.returncode == 2
    assert "unknown benchmark" in proc.stderr
