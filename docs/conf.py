"""Sphinx configuration for the layerloop documentation.

Built by ``nox -s docs`` (``sphinx-build -W --keep-going -E``: every warning is an error).
The packages are imported from their source trees, found the way the noxfile finds them
(``tools/packages.py``), so a new layer is importable here without editing this file.
No intersphinx: the build runs offline.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS / "_ext")]

from tools.packages import discover  # noqa: E402

PACKAGES = discover(ROOT)
for _pkg in reversed(PACKAGES):
    if str(_pkg.path / "src") not in sys.path:
        sys.path.insert(0, str(_pkg.path / "src"))

_meta = {p.key: p for p in PACKAGES}.get("layerloop")

project = "layerloop"
author = "the layerloop developers"
copyright = "the layerloop developers"
release = _meta.version if _meta is not None else "dev"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "moduleessay",
]

exclude_patterns = ["_build"]
root_doc = "index"
nitpicky = False  # no intersphinx offline: references into the stdlib cannot resolve

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# Optional accelerators/comparisons some modules import lazily or guardedly.
autodoc_mock_imports = ["uvloop"]

napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "alabaster"
html_title = f"layerloop {release}"
html_static_path: list[str] = []
