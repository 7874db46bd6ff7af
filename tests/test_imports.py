"""The house's import rules, read from the code (every import, also those inside functions):
no circles between modules; pipeline/ never imports the stage folders (classifiers/, dedup/,
filters/): it reaches stages through the registry's import paths; and the spine (the modules at
the top of pipeline/, which every stage may import) imports none of pipeline/'s rooms
(pipeline/extract/, pipeline/output/, ...): only the entry points (cli.py, run.py) bring them in."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "classifiers", "dedup", "filters")
STAGE_FOLDERS = ("classifiers", "dedup", "filters")
ENTRY_POINTS = ("pipeline.cli", "pipeline.run")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules a file imports (`from a.b import c` names a.b.c when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {module_name(p): p for p in files}
    # a package's __init__ only hands names on: an import of the package is not an import of its modules
    return {m: imports_of(p, set(modules)) - {m} for m, p in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_rules_see_imports_inside_functions():
    graph = import_graph()
    assert "pipeline.extract.page" in graph["pipeline.extract.worker"]  # imported inside a function
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_the_spine_imports_no_stage_folder():
    graph = import_graph()
    upward = {m: sorted(t for t in targets if t.split(".")[0] in STAGE_FOLDERS)
              for m, targets in graph.items() if m.split(".")[0] == "pipeline"}
    assert {m: t for m, t in upward.items() if t} == {}


def test_the_spine_imports_no_room():
    graph = import_graph()
    spine = [m for m in graph if m.count(".") == 1 and m.startswith("pipeline.") and m not in ENTRY_POINTS
             and not (ROOT / m.replace(".", "/")).is_dir()]
    assert "pipeline.stage" in spine and "pipeline.extract" not in spine
    into_rooms = {m: sorted(t for t in graph[m] if t.count(".") >= 2) for m in spine}
    assert {m: t for m, t in into_rooms.items() if t} == {}


def test_bench_and_scripts_never_import_tests():
    """Tests may measure with bench/'s tools; bench/ and scripts/ stand alone (a benchmark that
    needs a test helper would run only inside a checkout with pytest's fixtures)."""
    offenders = {}
    for folder in ("bench", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n == "tests" or n.startswith("tests.") for n in names):
                    offenders.setdefault(str(path.relative_to(ROOT)), []).extend(names)
    assert offenders == {}
