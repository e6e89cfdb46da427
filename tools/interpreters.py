"""Find the supported Python interpreters: pyenv builds first, then PATH.

``$(pyenv root)/versions/3.X.Y/bin/python3.X`` (newest patch release first), then
``python3.X`` on PATH.  Every candidate is run once to prove it is what it claims: a pyenv
*shim* for a version that is installed but not active exits with "command not found", and
must count as missing rather than fail a session later.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

__all__ = ["find_interpreter", "pyenv_roots", "reports_version"]


def pyenv_roots(extra: Iterable[Path] = ()) -> list[Path]:
    """Existing pyenv roots: ``$PYENV_ROOT``, ``pyenv root``, ``~/.pyenv`` (deduplicated)."""
    roots = list(extra)
    if os.environ.get("PYENV_ROOT"):
        roots.append(Path(os.environ["PYENV_ROOT"]))
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        try:
            out = subprocess.run(
                [pyenv, "root"], capture_output=True, text=True, timeout=20, check=False
            )
            if out.returncode == 0 and out.stdout.strip():
                roots.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    roots.append(Path.home() / ".pyenv")
    seen: list[Path] = []
    for root in roots:
        if (root / "versions").is_dir() and root not in seen:
            seen.append(root)
    return seen


def reports_version(exe: Path | str, version: str) -> bool:
    """Whether ``exe`` runs and reports ``sys.version_info[:2]`` equal to ``version``."""
    try:
        out = subprocess.run(
            [str(exe), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def find_interpreter(
    version: str, roots: Iterable[Path], *, path: str | None = None
) -> Path | None:
    """The newest working pyenv build of ``version`` under ``roots``, else a working
    ``python<version>`` on ``path`` (default: $PATH), else None."""
    for root in roots:
        builds: list[tuple[int, Path]] = []
        for d in (root / "versions").iterdir():
            match = re.fullmatch(rf"{re.escape(version)}(?:\.(\d+))?", d.name)
            exe = d / "bin" / f"python{version}"
            if match and exe.is_file():
                builds.append((int(match.group(1) or 0), exe))
        for _, exe in sorted(builds, reverse=True):
            if reports_version(exe, version):
                return exe
    found = shutil.which(f"python{version}", path=path)
    if found is not None and reports_version(found, version):
        return Path(found)
    return None
