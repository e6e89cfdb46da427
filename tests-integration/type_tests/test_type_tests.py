"""Run mypy on the type-only files: the positive file must be clean, and mypy must
reject a wrong use (so the positive check is not vacuous)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

if importlib.util.find_spec("mypy") is None:  # a required check: never skipped silently
    pytest.fail("the type tests need mypy (tests-integration/requirements.txt)", pytrace=False)


def _mypy(*targets: str, python_version: str | None = None) -> subprocess.CompletedProcess[str]:
    version = python_version or f"{sys.version_info[0]}.{sys.version_info[1]}"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            "/dev/null",
            "--python-version",
            version,
            *targets,
        ],
        cwd=ROOT,  # the root pyproject.toml's [tool.mypy] (mypy_path: packages/*/src)
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("python_version", ["3.11", "3.12", "3.13"])
def test_layerloop_is_accepted_as_an_abstract_event_loop(python_version: str) -> None:
    result = _mypy(str(HERE / "loop_is_an_abstract_event_loop.py"), python_version=python_version)
    assert result.returncode == 0, result.stdout + result.stderr


NEGATIVE = """
import asyncio

import layerloop


def uses_a_loop(loop: asyncio.AbstractEventLoop) -> None: ...


uses_a_loop(layerloop.new_event_loop)  # the factory, not a loop
handle: asyncio.TimerHandle = layerloop.new_event_loop().call_soon(print)
"""


def test_mypy_rejects_a_wrong_type(tmp_path: Path) -> None:
    snippet = tmp_path / "wrong_types.py"
    snippet.write_text(NEGATIVE)
    result = _mypy(str(snippet))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'Argument 1 to "uses_a_loop" has incompatible type' in output, output
    assert "wrong_types.py:11: error: Incompatible types in assignment" in output, output
    assert "Found 2 errors" in output, output
