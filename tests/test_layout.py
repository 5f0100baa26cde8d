"""The autograder's imports run one way: no module of ``checks`` imports one that imports it back."""

import ast
from pathlib import Path

from checks.registry import CHECKS_ROOT


def _imports(path: Path) -> set[str]:
    """Modules of ``checks`` that ``path`` imports (absolute names)."""
    package = ".".join(("checks", *path.relative_to(CHECKS_ROOT).with_suffix("").parts))
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            if module.startswith("checks"):
                found.add(module)
                found |= {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("checks")}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {}
    for path in CHECKS_ROOT.rglob("*.py"):
        name = ".".join(("checks", *path.relative_to(CHECKS_ROOT).with_suffix("").parts)).removesuffix(".__init__")
        modules[name] = path
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_checks_has_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_subject_side_imports_nothing_of_the_checker():
    """``checks/subject`` runs next to student code, in a sandbox that holds only that folder."""
    graph = _graph()
    for name, imported in graph.items():
        if name.startswith("checks.subject"):
            outside = sorted(m for m in imported if not m.startswith("checks.subject") and m != "checks")
            assert not outside, f"{name} imports {outside}"
