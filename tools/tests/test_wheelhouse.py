"""tools/wheelhouse.py for real: build wheels, install one with only its declared
dependencies into a fresh environment, and always install what was just built."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import wheelhouse

from .conftest import FakeRepo


def _uv() -> str | None:
    if importlib.util.find_spec("uv") is not None:
        from uv import find_uv_bin  # noqa: PLC0415

        return str(find_uv_bin())
    return shutil.which("uv")


UV = _uv()
pytestmark = pytest.mark.skipif(
    UV is None, reason="needs uv (nox -s layers installs it) to build and install wheels"
)


def run(cmd: list[str | Path]) -> str:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env["PATH"] = f"{Path(UV or '').parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def env_python(tmp_path: Path) -> Path:
    env = tmp_path / "env"
    run([UV or "uv", "venv", "--quiet", "--python", sys.executable, env])
    return env / "bin" / "python"


def test_install_brings_only_the_declared_closure_and_the_latest_build(
    tmp_path: Path, env_python: Path
) -> None:
    repo = FakeRepo(tmp_path / "repo")
    repo.package("core", exports=["VALUE"], buildable=True)
    repo.package("selector", deps=["layerloop-core>=0.1,<1"], exports=["X"], buildable=True)
    repo.package("dns", deps=["layerloop-core>=0.1,<1"], exports=["X"], buildable=True)
    core_init = repo.root / "packages/core/src/layerloop_core/__init__.py"
    core_init.write_text("VALUE = 1\n__all__ = ['VALUE']\n")
    script = Path(wheelhouse.__file__)
    wheels = tmp_path / "wheels"
    install: list[str | Path] = [
        env_python,
        script,
        "install",
        "dns",
        "--wheels",
        wheels,
        "--root",
        repo.root,
    ]
    probe: list[str | Path] = [
        env_python,
        "-c",
        "import layerloop_core; print(layerloop_core.VALUE)",
    ]

    out = run(install)
    assert "installed from its wheel with only: layerloop-core 0.1.0, layerloop-dns 0.1.0" in out
    assert run(probe).strip() == "1"
    missing = run(
        [env_python, "-c", "import importlib.util as u; print(u.find_spec('layerloop_selector'))"]
    )
    assert missing.strip() == "None"

    # Same version, new contents: the new build must be what gets installed.
    core_init.write_text("VALUE = 2\n__all__ = ['VALUE']\n")
    run(install)
    assert run(probe).strip() == "2"
