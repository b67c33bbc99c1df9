"""The package's layers hold: no module imports from a layer above its own, no import cycle between files, and no
cycle between packages (sub-packages and top-level modules).

Inside a layer, one package may import another only along an arrow written in :data:`ALLOWED_WITHIN_LAYER`;
those arrows must themselves form no cycle. Every import is read from the source (function-level ones
included), so a lazy import cannot hide a cycle.
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
    "detection": 4, "export": 4, "serving": 4, "monitoring": 4,
    "workflows": 5, "reporting": 5,
    "cli": 6, "notebook": 6, "__main__": 6,
}  # fmt: skip

#: The only imports allowed between two packages of the same layer (importer, imported); the base modules of
#: layer 0 (constants <- utils <- config) are ordered by the file-cycle test. The service scores with the
#: detector and the export runtimes and logs to the monitoring store; nothing imports the service back.
ALLOWED_WITHIN_LAYER = [
    ("serving", "detection"),
    ("serving", "export"),
    ("serving", "monitoring"),
    ("__main__", "cli"),
]


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


def _package(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _package_graph() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, deps in _graph().items():
        src = _package(module)
        out.setdefault(src, set()).update(_package(d) for d in deps if _package(d) != src)
    return out


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
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

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


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
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_packages_of_one_layer_import_each_other_only_along_the_listed_arrows():
    graph = _package_graph()
    unknown = [(a, b) for a, b in ALLOWED_WITHIN_LAYER if a not in LAYERS or b not in LAYERS or LAYERS[a] != LAYERS[b]]
    assert not unknown, f"ALLOWED_WITHIN_LAYER names packages of different layers or unknown ones: {unknown}"
    sideways = sorted(
        f"{a} -> {b} (layer {LAYERS[a]})"
        for a, deps in graph.items()
        for b in deps
        if LAYERS[a] == LAYERS[b] and LAYERS[a] > 0 and (a, b) not in ALLOWED_WITHIN_LAYER
    )
    unused = [(a, b) for a, b in ALLOWED_WITHIN_LAYER if b not in graph.get(a, ())]
    assert not unused, f"ALLOWED_WITHIN_LAYER lists arrows no import uses any more (remove them): {unused}"
    assert not sideways, "imports between packages of one layer missing from ALLOWED_WITHIN_LAYER:\n" + "\n".join(
        sideways
    )


def test_no_import_cycle_between_packages():
    cycle = _find_cycle(_package_graph())
    assert cycle is None, "package import cycle: " + " -> ".join(cycle or [])
    allowed: dict[str, set[str]] = {}
    for a, b in ALLOWED_WITHIN_LAYER:
        allowed.setdefault(a, set()).add(b)
        allowed.setdefault(b, set())
    cycle = _find_cycle(allowed)
    assert cycle is None, "ALLOWED_WITHIN_LAYER itself has a cycle: " + " -> ".join(cycle or [])


def test_the_package_checker_sees_a_cycle():
    """The checker itself: two packages importing each other, or a longer loop, are reported."""
    assert _find_cycle({"export": {"monitoring"}, "monitoring": {"export"}}) == ["export", "monitoring", "export"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_walker_sees_function_level_imports(tmp_path):
    """The checker itself: an import inside a function counts (it is how cycles used to hide)."""
    src = PACKAGE / "data" / "rsna.py"
    assert "mammo_utils.constants" in _imports(src)
    deps = _imports(PACKAGE / "data" / "synthetic.py")
    assert {"mammo_utils.data.rsna", "mammo_utils.config", "mammo_utils.utils"} <= deps
    assert "mammo_utils.detection.detector" in _imports(PACKAGE / "serving" / "inference.py")  # inside load()


#: Longest module that needs no written reason for its length.
MAX_LINES = 350


def test_a_long_module_says_why_at_its_top():
    """A module over MAX_LINES lines starts with a ``# Size: <reason>`` line (a reader can hold the rest)."""
    long = [
        f"{p.relative_to(PACKAGE.parent)} ({n} lines)"
        for p in sorted(PACKAGE.rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_LINES and not p.read_text().startswith("# Size: ")
    ]
    assert not long, f"modules over {MAX_LINES} lines without a '# Size: <reason>' first line:\n" + "\n".join(long)
