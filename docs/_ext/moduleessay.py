"""``.. module-essay:: package._module``: the docstring of a (private) module, as text.

The backend pages show the kernel-facts essay each backend module opens with, so the
essay is written once, next to the code it explains.  The docstring is read from the
source with :mod:`ast` (the module is neither imported nor registered as an API page)
and parsed as reStructuredText in place; its section headings nest under the page's.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.parsing import nested_parse_to_nodes


class ModuleEssay(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise self.error(f"module-essay: cannot find module {name!r}")
        path = Path(spec.origin)
        self.env.note_dependency(str(path))
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        text = ast.get_docstring(tree, clean=True)
        if not text:
            raise self.error(f"module-essay: {name} has no docstring")
        return nested_parse_to_nodes(
            self.state, text, source=str(path), allow_section_headings=True
        )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("module-essay", ModuleEssay)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
