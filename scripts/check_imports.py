"""Lint: the import graph of featurestore has no cycle, and nothing imports from tests/.

Every `import featurestore.x` and `from featurestore.x import y` counts, at the top of a
file or inside a function (a function-level import is still a dependency, only a later
one). A cycle means two modules cannot be understood, or changed, one without the other;
featurestore and benchmarks importing from tests/ means test support has become product
code (it belongs in featurestore/testing/).

Usage: python scripts/check_imports.py [--graph]   (--graph prints every module's imports)
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "featurestore"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The featurestore modules `path` imports (a `from package import name` of a submodule
    counts as that submodule)."""
    tree = ast.parse(path.read_text(), str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != here:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    files = sorted((ROOT / PACKAGE).rglob("*.py"))
    files = [f for f in files if not f.name.endswith("_pb2.py")]
    known = {module_name(f) for f in files}
    edges = {module_name(f): imported_modules(f, known) for f in files}
    # a package's __init__ re-exporting its modules is not a dependency of those modules on it
    return {m: {d for d in deps if not (m.startswith(d + ".") and _is_package(d))} for m, deps in edges.items()}


def _is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").exists()


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def imports_of_tests() -> list[str]:
    """Files of featurestore/, benchmarks/, jobs/ and scripts/ that import from tests."""
    offenders = []
    for folder in (PACKAGE, "benchmarks", "jobs", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                if any(n == "tests" or n.startswith("tests.") for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return offenders


def main(argv: list[str]) -> int:
    edges = graph()
    if "--graph" in argv:
        for module, deps in sorted(edges.items()):
            print(f"{module}: {', '.join(sorted(deps))}")
    problems = [f"import cycle: {' <-> '.join(c)}" for c in cycles(edges)]
    problems += [f"{where}: imports from tests/; move what it needs to featurestore/testing/"
                 for where in imports_of_tests()]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"imports: {len(edges)} modules, {sum(map(len, edges.values()))} imports, no cycle, nothing from tests/")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
