"""The layer contract, checked on the source with :mod:`ast` (nothing is imported).

Run as ``python -m tools.check_layers`` (``nox -s layers`` does).  Exit status 1 and one
line per violation when the contract is broken::

    packages/dns/src/layerloop_dns/_resolver.py:3:0: LL001 layerloop-dns imports
    layerloop_selector, which is not among its declared dependencies (layerloop-core)

What is checked ("src" is packages/*/src, "tests" packages/*/tests, "integration"
tests-integration/):

LL001  a package imports only itself and the layerloop distributions its
       ``pyproject.toml`` declares (src; tests, which may also import the layerloop
       distributions of the package's ``[dependency-groups] test``)
LL003  no private module or name (``_x``) of another layerloop package:
       ``layerloop_core._loop``, ``layerloop_core._x``, ``EventLoop._x`` (src, tests)
LL004  names taken from another package's module are in that module's static
       ``__all__``, or are public submodules (src, tests)
LL005  each package's ``__init__.py`` has a literal ``__all__`` naming only what it binds
LL010  no private asyncio module: ``asyncio.base_events``, ``selector_events``,
       ``unix_events``, ``sslproto``, ``staggered``... (src, tests, integration)
LL011  no private asyncio name (``asyncio.events._x``, ``asyncio._x``), except the six
       that ``asyncio.__all__`` exports for third-party loops
       (``asyncio._set_running_loop``...) and except under ``if TYPE_CHECKING:``, where
       typeshed's private aliases such as ``asyncio._CoroutineLike`` live (src)
LL012  ``BaseEventLoop`` is never named (src), and no class derives from asyncio's
       concrete loops: BaseEventLoop, SelectorEventLoop, ProactorEventLoop, EventLoop
       (src, tests, integration: a test may still assert a loop is *not* one)

Test files that bind CPython's own ``test.test_asyncio`` to our loop may need what the
rules above forbid; a file carrying the comment ``# layerloop-check: cpython-test-binding``
is exempt from every rule (it must stay under ``tests-integration/`` or a package's
``tests/``; source files cannot be exempted).
"""

from __future__ import annotations

import ast
import enum
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.packages import (
    REPO_ROOT,
    Package,
    PackageError,
    discover,
    is_layerloop_name,
)

__all__ = [
    "ASYNCIO_LOOP_CLASSES",
    "ASYNCIO_PRIVATE_MODULES",
    "ASYNCIO_SANCTIONED_PRIVATE",
    "EXEMPT_MARKER",
    "Violation",
    "check",
    "main",
]

#: asyncio's implementation modules: never imported or reached by attribute.
ASYNCIO_PRIVATE_MODULES = frozenset(
    {
        "base_events",
        "base_futures",
        "base_subprocess",
        "base_tasks",
        "constants",
        "coroutines",
        "format_helpers",
        "log",
        "mixins",
        "proactor_events",
        "selector_events",
        "sslproto",
        "staggered",
        "tools",
        "trsock",
        "unix_events",
        "windows_events",
        "windows_utils",
        "__main__",
    }
)

#: Underscore names asyncio itself lists in ``asyncio.__all__`` (3.11-3.13) so that
#: third-party loops and tasks can use them: allowed through the top-level package only.
ASYNCIO_SANCTIONED_PRIVATE = frozenset(
    {
        "_get_running_loop",
        "_set_running_loop",
        "_register_task",
        "_unregister_task",
        "_enter_task",
        "_leave_task",
    }
)

#: asyncio's concrete loop classes (all BaseEventLoop subclasses): never a base class.
ASYNCIO_LOOP_CLASSES = frozenset(
    {"BaseEventLoop", "SelectorEventLoop", "ProactorEventLoop", "EventLoop"}
)

EXEMPT_MARKER = "# layerloop-check: cpython-test-binding"


class Scope(enum.Enum):
    SRC = "src"
    TESTS = "tests"
    INTEGRATION = "integration"


@dataclass(frozen=True, slots=True, order=True)
class Violation:
    path: Path
    line: int
    col: int
    code: str
    message: str

    def format(self, root: Path) -> str:
        try:
            shown: Path | str = self.path.relative_to(root)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}:{self.col}: {self.code} {self.message}"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _static_all(tree: ast.Module) -> frozenset[str] | None:
    """The names of a module's ``__all__`` if it is built from literals only, else None."""
    names: list[str] = []
    found = False
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                continue
            value = node.value
            if not isinstance(value, ast.List | ast.Tuple):
                return None
            literal = [
                e.value
                for e in value.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
            if len(literal) != len(value.elts):
                return None
            if isinstance(node, ast.AugAssign):
                names.extend(literal)
            else:
                names = list(literal)
            found = True
    return frozenset(names) if found else None


def _bound_names(body: Sequence[ast.stmt]) -> set[str]:
    """Names a module body binds at top level (descending into if/try/with blocks)."""
    out: set[str] = set()
    for node in body:
        if isinstance(node, ast.Import):
            out.update((a.asname or a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.update((a.asname or a.name) for a in node.names if a.name != "*")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                out.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.If | ast.Try | ast.With):
            out.update(_bound_names(node.body))
            out.update(_bound_names(node.orelse if not isinstance(node, ast.With) else []))
            if isinstance(node, ast.Try):
                out.update(_bound_names(node.finalbody))
                for handler in node.handlers:
                    out.update(_bound_names(handler.body))
    return out


class _Index:
    """What the checks know about the repository's layerloop packages."""

    def __init__(self, packages: Sequence[Package]) -> None:
        self.packages = list(packages)
        self.by_import = {p.import_name: p for p in packages}
        self.by_key = {p.key: p for p in packages}

    def module_file(self, dotted: str) -> Path | None:
        top, *rest = dotted.split(".")
        pkg = self.by_import.get(top)
        if pkg is None:
            return None
        base = pkg.src_dir.joinpath(*rest)
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                return candidate
        return None

    def is_module(self, dotted: str) -> bool:
        top, *rest = dotted.split(".")
        pkg = self.by_import.get(top)
        if pkg is None:
            return False
        base = pkg.src_dir.joinpath(*rest)
        return base.is_dir() or base.with_suffix(".py").is_file()

    def static_all(self, dotted: str) -> frozenset[str] | None:
        path = self.module_file(dotted)
        return None if path is None else _parse_all(path)


@cache
def _parse_all(path: Path) -> frozenset[str] | None:
    try:
        return _static_all(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    except (OSError, SyntaxError, ValueError):
        return None


class _FileChecker(ast.NodeVisitor):
    def __init__(
        self,
        index: _Index,
        path: Path,
        *,
        scope: Scope,
        owner: Package | None,
        module: str,
        allowed: frozenset[str],
    ) -> None:
        self.index = index
        self.path = path
        self.scope = scope
        self.owner = owner
        self.module = module  # dotted name of the file's module ("" outside packages)
        self.allowed = allowed  # normalized dist names this file may import
        self.aliases: dict[str, str] = {}  # local name -> fully qualified dotted path
        self.violations: list[Violation] = []
        self._seen: set[tuple[int, int, str]] = set()
        self.type_checking = 0  # depth of `if TYPE_CHECKING:` blocks being visited

    # -- reporting -------------------------------------------------------------------------

    def report(self, node: ast.AST, code: str, message: str) -> None:
        line = getattr(node, "lineno", 0)
        col = getattr(node, "col_offset", 0)
        if (line, col, code) in self._seen:
            return
        self._seen.add((line, col, code))
        self.violations.append(Violation(self.path, line, col, code, message))

    # -- the rules on one fully qualified reference -----------------------------------------

    def check_reference(self, dotted: str, node: ast.AST, *, is_import: bool) -> None:
        parts = dotted.split(".")
        if parts[0] == "asyncio":
            self.check_asyncio(parts, node)
        elif is_layerloop_name(parts[0]) and self.scope is not Scope.INTEGRATION:
            self.check_layerloop(parts, node, is_import=is_import)

    def check_asyncio(self, parts: list[str], node: ast.AST) -> None:
        if len(parts) < 2:
            return
        sub = parts[1]
        # Typeshed's private aliases (asyncio._CoroutineLike...) exist only in the stubs:
        # naming them for the type checker is allowed, using a private name at run time not.
        check_names = self.scope is Scope.SRC and not self.type_checking
        if sub in ASYNCIO_PRIVATE_MODULES or (
            _is_private(sub) and sub not in ASYNCIO_SANCTIONED_PRIVATE and check_names
        ):
            kind = "module" if sub in ASYNCIO_PRIVATE_MODULES else "name"
            code = "LL010" if kind == "module" else "LL011"
            self.report(node, code, f"asyncio.{sub} is a private asyncio {kind}")
            return
        if len(parts) >= 3 and _is_private(parts[2]) and check_names:
            hint = (
                f" (use asyncio.{parts[2]}, which asyncio exports in __all__)"
                if parts[2] in ASYNCIO_SANCTIONED_PRIVATE
                else ""
            )
            self.report(node, "LL011", f"asyncio.{sub}.{parts[2]} is a private asyncio name{hint}")
        if "BaseEventLoop" in parts and self.scope is Scope.SRC:
            self.report(node, "LL012", "asyncio.BaseEventLoop must not be used")

    def check_layerloop(self, parts: list[str], node: ast.AST, *, is_import: bool) -> None:
        top = parts[0]
        target = self.index.by_import.get(top)
        if target is not None and self.owner is not None and target.key == self.owner.key:
            return  # a package may use all of itself
        if is_import:
            if target is None:
                self.report(
                    node,
                    "LL001",
                    f"{top} is not a layerloop package of this repository "
                    "(no packages/*/pyproject.toml provides it)",
                )
                return
            if target.key not in self.allowed:
                who = self.owner.name if self.owner is not None else self.path.name
                own = self.owner.key if self.owner is not None else ""
                declared = ", ".join(sorted(self.allowed - {own})) or "none"
                self.report(
                    node,
                    "LL001",
                    f"{who} imports {top}, which is not among its declared "
                    f"dependencies ({declared})",
                )
        if target is None:
            return
        current: str | None = top
        for i, part in enumerate(parts[1:], start=1):
            shown = ".".join(parts[: i + 1])
            if _is_private(part):
                self.report(
                    node,
                    "LL003",
                    f"{shown} is private to {target.name}: use its public API",
                )
                return
            if current is None:
                continue  # an attribute of an exported object: only privacy is checked
            if self.index.is_module(f"{current}.{part}"):
                current = f"{current}.{part}"
                continue
            exported = self.index.static_all(current)
            if exported is not None and part not in exported:
                self.report(
                    node,
                    "LL004",
                    f"{shown}: {part} is not in {current}.__all__ (not public API)",
                )
                return
            current = None

    # -- name binding ----------------------------------------------------------------------

    def resolve(self, node: ast.expr) -> str | None:
        """The fully qualified dotted path of a Name/Attribute chain rooted at an import."""
        attrs: list[str] = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.aliases:
            return None
        return ".".join([self.aliases[node.id], *reversed(attrs)])

    def _absolute(self, node: ast.ImportFrom) -> str | None:
        if node.level == 0:
            return node.module or ""
        if not self.module:
            return None  # a relative import in a test directory: not a layerloop package
        base = self.module.split(".")
        # A package's __init__ is the package itself; any other module drops its own name.
        if self.path.name != "__init__.py":
            base = base[:-1]
        if node.level - 1 > len(base) or not base:
            return None
        base = base[: len(base) - (node.level - 1)]
        return ".".join([*base, node.module] if node.module else base)

    # -- visitors --------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check_reference(alias.name, node, is_import=True)
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = self._absolute(node)
        if module is None:
            return
        if node.level and self.owner is not None and module.split(".")[0] == self.owner.import_name:
            return  # a relative import inside the package itself
        self.check_reference(module, node, is_import=True)
        for alias in node.names:
            if alias.name == "*":
                continue
            if self.scope is Scope.SRC and alias.name == "BaseEventLoop":
                self.report(node, "LL012", "BaseEventLoop must not be used")
            full = f"{module}.{alias.name}"
            self.check_reference(full, node, is_import=False)
            self.aliases[alias.asname or alias.name] = full

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        dynamic = (isinstance(func, ast.Name) and func.id == "__import__") or (
            isinstance(func, ast.Attribute)
            and func.attr == "import_module"
            and self.resolve(func) == "importlib.import_module"
        )
        if (
            isinstance(func, ast.Name)
            and func.id == "import_module"
            and self.aliases.get("import_module") == "importlib.import_module"
        ):
            dynamic = True
        if dynamic and node.args:
            first = node.args[0]
            if (
                isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and not first.value.startswith(".")
            ):
                self.check_reference(first.value, node, is_import=True)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self.scope is Scope.SRC and node.attr == "BaseEventLoop":
            self.report(node, "LL012", "BaseEventLoop must not be used")
        dotted = self.resolve(node)
        if dotted is not None:
            self.check_reference(dotted, node, is_import=False)
            return  # the whole chain is checked: do not re-check its inner links
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if self.scope is Scope.SRC and node.id == "BaseEventLoop":
            self.report(node, "LL012", "BaseEventLoop must not be used")

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
        if not guarded:
            self.generic_visit(node)
            return
        self.visit(test)
        self.type_checking += 1
        for stmt in node.body:
            self.visit(stmt)
        self.type_checking -= 1
        for stmt in node.orelse:
            self.visit(stmt)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            dotted = self.resolve(base)
            if dotted is None:
                continue
            parts = dotted.split(".")
            if parts[0] == "asyncio" and parts[-1] in ASYNCIO_LOOP_CLASSES:
                self.report(
                    base,
                    "LL012",
                    f"{node.name} derives from asyncio's {parts[-1]}: subclass "
                    "asyncio.AbstractEventLoop (through layerloop_core) instead",
                )
        self.generic_visit(node)


def _module_name(path: Path, src_root: Path) -> str:
    rel = path.relative_to(src_root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _check_file(
    index: _Index,
    path: Path,
    *,
    scope: Scope,
    owner: Package | None,
    module: str,
    allowed: frozenset[str],
) -> list[Violation]:
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        return [Violation(path, 0, 0, "LL000", f"cannot parse: {exc}")]
    if scope is not Scope.SRC and EXEMPT_MARKER in source:
        return []
    checker = _FileChecker(index, path, scope=scope, owner=owner, module=module, allowed=allowed)
    checker.visit(tree)
    return checker.violations


def _check_init(index: _Index, pkg: Package) -> list[Violation]:
    init = pkg.src_dir / "__init__.py"
    if not init.is_file():
        return [Violation(init, 0, 0, "LL005", f"{pkg.name} has no {pkg.import_name}/__init__.py")]
    try:
        tree = ast.parse(init.read_text(encoding="utf-8"), str(init))
    except (OSError, SyntaxError, ValueError) as exc:
        return [Violation(init, 0, 0, "LL000", f"cannot parse: {exc}")]
    exported = _static_all(tree)
    if exported is None:
        return [
            Violation(init, 1, 0, "LL005", f"{pkg.import_name}/__init__.py has no literal __all__")
        ]
    bound = _bound_names(tree.body)
    return [
        Violation(
            init,
            1,
            0,
            "LL005",
            f"{pkg.import_name}.__all__ lists {name!r}, which the module does not define",
        )
        for name in sorted(exported - bound)
        if not index.is_module(f"{pkg.import_name}.{name}")
    ]


def _py_files(directory: Path) -> Iterator[Path]:
    if directory.is_dir():
        yield from sorted(p for p in directory.rglob("*.py") if "__pycache__" not in p.parts)


def check(root: Path = REPO_ROOT, packages: Sequence[Package] | None = None) -> list[Violation]:
    """Every violation of the layer contract under ``root``."""
    pkgs = discover(root) if packages is None else list(packages)
    index = _Index(pkgs)
    out: list[Violation] = []
    for pkg in pkgs:
        # An extra's layerloop distributions count as declared: the package imports them
        # only when installed (``layerloop[uring]`` -> layerloop_proactor, guarded).
        runtime = frozenset({pkg.key, *(r.key for r in pkg.all_layer_requirements)})
        src_root = pkg.path / "src"
        out.extend(_check_init(index, pkg))
        for path in _py_files(pkg.src_dir):
            out.extend(
                _check_file(
                    index,
                    path,
                    scope=Scope.SRC,
                    owner=pkg,
                    module=_module_name(path, src_root),
                    allowed=runtime,
                )
            )
        with_tests = runtime | frozenset(pkg.test_layer_deps)
        for path in _py_files(pkg.tests_dir):
            out.extend(
                _check_file(
                    index, path, scope=Scope.TESTS, owner=pkg, module="", allowed=with_tests
                )
            )
    every = frozenset(index.by_key)
    for path in _py_files(root / "tests-integration"):
        out.extend(
            _check_file(index, path, scope=Scope.INTEGRATION, owner=None, module="", allowed=every)
        )
    return sorted(out)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(args[0]).resolve() if args else REPO_ROOT
    try:
        violations = check(root)
    except PackageError as exc:
        print(f"check_layers: {exc}", file=sys.stderr)
        return 1
    for v in violations:
        print(v.format(root))
    if violations:
        print(f"check_layers: {len(violations)} violation(s) of the layer contract")
        return 1
    n = len(discover(root))
    print(f"check_layers: {n} packages, layer contract holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
