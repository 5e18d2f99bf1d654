"""The house: accel's modules import each other without a cycle, function-level imports
included, and lower layers never import higher ones (DESIGN.md's layers); the compiled
extensions are leaves."""

from __future__ import annotations

import ast
import pathlib

import accel

PACKAGE = pathlib.Path(accel.__file__).resolve().parent
COMPILED = {"accel._fastpath", "accel._cpu_native"}  # extension modules: they import nothing

# The layers, from the ground up: a module may import only from its own layer or below.
LAYERS = [
    {"accel._errors", "accel._optable", "accel._stats", "accel._notice", "accel._selection",
     "accel._calibration", "accel._resources", "accel._environment", "accel._version",
     "accel._codegen", *COMPILED},
    {"accel.backends"},  # and everything under it
    {"accel._cost", "accel._dispatch", "accel._fast"},
    {"accel._array"},
    {"accel._calls"},
    {"accel._arith", "accel._reductions", "accel._shapes"},
    {"accel._ops", "accel", "accel._probe", "accel.bench", "accel.calibrate",
     "accel.cli", "accel.dask", "accel.selftest", "accel.__main__", "accel.testing"},
]  # fmt: skip


def modules(package: pathlib.Path = PACKAGE) -> dict[str, pathlib.Path]:
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """Every accel module `name` imports anywhere in its text (functions included)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "accel"}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            prefix = ".".join(base + ([node.module] if node.module else []))
            if not prefix.startswith("accel"):
                continue
            for alias in node.names:
                candidate = f"{prefix}.{alias.name}"
                found.add(candidate if candidate in known or candidate in COMPILED else prefix)
    return found - {name}


def graph(package: pathlib.Path = PACKAGE) -> dict[str, set[str]]:
    mods = modules(package)
    known = set(mods) | COMPILED
    return {name: imports(name, path, known) & known for name, path in mods.items()}


def layer_of(name: str) -> int:
    for i, layer in enumerate(LAYERS):
        if name in layer or any(name.startswith(m + ".") for m in layer if m != "accel"):
            return i
    raise AssertionError(f"{name} is in no layer of this test: place it")


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    seen: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        seen[m] = 1
        path.append(m)
        for dep in sorted(g.get(m, ())):
            if seen.get(dep) == 1:
                raise _Cycle([*path[path.index(dep) :], dep])
            if dep not in seen:
                visit(dep)
        path.pop()
        seen[m] = 2

    try:
        for m in sorted(g):
            if m not in seen:
                visit(m)
    except _Cycle as c:
        return c.args[0]
    return None


class _Cycle(Exception):
    pass


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_lower_layers_never_import_higher_ones():
    wrong = [f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
             for m, deps in graph().items() for d in deps if layer_of(d) > layer_of(m)]  # fmt: skip
    assert not wrong, wrong


def test_the_checker_sees_a_cycle_closed_by_a_function_level_import(tmp_path):
    """A test that cannot fail is a defect: a function-level import that closes a cycle is
    caught."""
    pkg = tmp_path / "accel"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "_a.py").write_text("from . import _b\n")
    (pkg / "_b.py").write_text("def f():\n    from . import _a\n")
    assert find_cycle(graph(pkg)) == ["accel._a", "accel._b", "accel._a"]
