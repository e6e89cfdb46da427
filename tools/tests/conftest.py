"""A throwaway monorepo builder for the checks' tests."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from tools.packages import normalize

CONTRACT = """\
[tool.layerloop]
meta = "layerloop"

[tool.layerloop.layers]
layerloop-core = []
layerloop-selector = ["layerloop-core"]
layerloop-dns = ["layerloop-core"]
layerloop-testing = ["layerloop-core"]
layerloop = "*"
"""


def _toml_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


class FakeRepo:
    """Writes ``packages/<dir>/`` trees shaped like the real ones under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dirs: list[str] = []
        self.write("pyproject.toml", CONTRACT)
        self.write_tox()

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def write_tox(self, envs: Iterable[str] | None = None) -> None:
        names = ", ".join(self.dirs if envs is None else envs)
        self.write("tools/tox.ini", f"[tox]\nenv_list = {names}\n")

    def package(
        self,
        dirname: str,
        name: str | None = None,
        *,
        deps: Iterable[str] = (),
        version: str = "0.1.0",
        exports: Iterable[str] | None = (),
        modules: Mapping[str, str] | None = None,
        tests: Mapping[str, str] | None = None,
        optional: Mapping[str, Iterable[str]] | None = None,
        test_group: Iterable[str] | None = None,
        buildable: bool = False,
    ) -> Path:
        """One package; ``exports`` become module-level names listed in ``__all__``
        (``None``: an ``__init__.py`` without ``__all__``)."""
        name = name or ("layerloop" if dirname == "layerloop" else f"layerloop-{dirname}")
        imp = normalize(name).replace("-", "_")
        base = f"packages/{dirname}"
        extra = ""
        if optional:
            extra += "\n[project.optional-dependencies]\n" + "".join(
                f"{k} = {_toml_list(v)}\n" for k, v in optional.items()
            )
        if test_group is not None:
            extra += f"\n[dependency-groups]\ntest = {_toml_list(test_group)}\n"
        if buildable:  # a real hatchling project that `uv build` can build
            extra += (
                '\n[build-system]\nrequires = ["hatchling"]\n'
                'build-backend = "hatchling.build"\n\n'
                f'[tool.hatch.version]\npath = "src/{imp}/_version.py"\n'
            )
        self.write(
            f"{base}/pyproject.toml",
            f'[project]\nname = "{name}"\ndynamic = ["version"]\n'
            f"dependencies = {_toml_list(deps)}\n{extra}\n"
            f'[tool.hatch.build.targets.wheel]\npackages = ["src/{imp}"]\n',
        )
        self.write(f"{base}/src/{imp}/_version.py", f'__version__ = "{version}"\n')
        if exports is not None:
            names = list(exports)
            body = "".join(f"{n} = object()\n" for n in names)
            self.write(f"{base}/src/{imp}/__init__.py", f"{body}__all__ = {names!r}\n")
        else:
            self.write(f"{base}/src/{imp}/__init__.py", "X = 1\n")
        for rel, text in (modules or {}).items():
            self.write(f"{base}/src/{imp}/{rel}", text)
        for rel, text in (tests or {}).items():
            self.write(f"{base}/tests/{rel}", text)
        if dirname not in self.dirs:
            self.dirs.append(dirname)
            self.write_tox()
        return self.root / base


@pytest.fixture
def repo(tmp_path: Path) -> FakeRepo:
    """A repository with core, selector and dns (each depending on core with a range)."""
    r = FakeRepo(tmp_path)
    r.package(
        "core",
        exports=["EventLoop", "Handle"],
        modules={
            "abc.py": "__all__ = ['IOBackend']\nclass IOBackend: ...\n",
            "_loop.py": "class EventLoop: ...\n",
        },
    )
    r.package("selector", deps=["layerloop-core>=0.1,<1"], exports=["new_backend"])
    r.package("dns", deps=["layerloop-core>=0.1,<1"], exports=["ThreadedResolver"])
    return r
