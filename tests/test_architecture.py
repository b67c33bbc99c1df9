"""The package's layers hold: no import cycle between files, and no module imports from a layer above its own.

Every import is read from the source (function-level ones included), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mammo_utils"

#: Layer of each top-level module or sub-package (lower layers never import higher ones).
LAYERS = {
    "__init__": 0, "constants": 0, "utils": 0, "config": 0,
    "data": 1,
    "evaluation": 2,
    "modeling": 3,
    "detection": 4, "export": 4, "serving": 4, "monitoring": 4, "reporting": 4,
    "cli": 5, "notebook": 5, "__main__": 5,
}  # fmt: skip


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").is_file() or (PACKAGE.parent / rel / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """Package modules imported anywhere in ``path`` (relative and absolute, any depth in the file)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("mammo_utils")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("mammo_utils"):
                target = node.module
            else:
                continue
            subs = [f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}")]
            out |= set(subs) if subs and len(subs) == len(node.names) else {target}
    return {m for m in out if m != name}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _layer(module: str) -> int:
    parts = module.split(".")
    return 0 if len(parts) == 1 else LAYERS[parts[1]]


def test_every_module_has_a_layer():
    unknown = sorted({m.split(".")[1] for m in _graph() if "." in m} - set(LAYERS))
    assert not unknown, f"modules/sub-packages without a layer in this test: {unknown}"


def test_no_module_imports_from_a_layer_above_its_own():
    graph = _graph()
    upward = [
        f"{m} ({_layer(m)}) -> {d} ({_layer(d)})" for m, deps in graph.items() for d in deps if _layer(d) > _layer(m)
    ]
    assert not upward, "imports against the dependency rule:\n" + "\n".join(sorted(upward))


def test_no_import_cycle_between_files():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:  # a package's __init__ is keyed by the package name already
                continue
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_the_walker_sees_function_level_imports(tmp_path):
    """The checker itself: an import inside a function counts (it is how cycles used to hide)."""
    src = PACKAGE / "data" / "rsna.py"
    assert "mammo_utils.constants" in _imports(src)
    deps = _imports(PACKAGE / "data" / "synthetic.py")
    assert {"mammo_utils.data.rsna", "mammo_utils.config", "mammo_utils.utils"} <= deps
    assert "mammo_utils.modeling.keras_metrics" in _imports(PACKAGE / "serving" / "inference.py")  # inside load()
