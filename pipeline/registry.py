"""Stages by name. A stage registers where it is defined: a public class in one of the stage
folders whose body sets `name` to a string (or to a module-level string constant) is the stage of
that name. The table is read from the source (ast), not by importing it, so importing the spine
never imports a model or a parser; `stage_class` imports the one module a name needs.

Adding a filter is one file in filters/ (and its golden folder, tests/golden/<name>/). A class
that must not register (an apply stage sharing its global stage's name) takes the name from that
class (`name = MinHashDedup.name`), which the scan does not read; a private class (`_Name`) never
registers. Two classes claiming one name is an error that names both."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from pipeline.stage import Stage

ROOT = Path(__file__).resolve().parent.parent
STAGE_FOLDERS = ("pipeline", "filters", "dedup", "classifiers")
# cheap text test before parsing: a class-level `name = ...` / `name: ClassVar[str] = ...`
_DECLARES_NAME = re.compile(r"^    name\s*(?::[^=\n]*)?=", re.M)


def _string_constants(tree: ast.Module) -> dict[str, str]:
    return {n.targets[0].id: n.value.value for n in tree.body
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
            and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}


def _declared_name(cls: ast.ClassDef, constants: dict[str, str]) -> str | None:
    for st in cls.body:
        target = st.target if isinstance(st, ast.AnnAssign) else st.targets[0] if isinstance(st, ast.Assign) and len(st.targets) == 1 else None
        if isinstance(target, ast.Name) and target.id == "name":
            value = st.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
            if isinstance(value, ast.Name):
                return constants.get(value.id)
    return None


def discover(root: Path = ROOT, folders: tuple[str, ...] = STAGE_FOLDERS) -> dict[str, str]:
    """name -> "module:Class" for every stage declared under `folders`."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if not _DECLARES_NAME.search(text):
                continue
            tree = ast.parse(text, str(path))
            constants = _string_constants(tree)
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            for cls in tree.body:
                if not isinstance(cls, ast.ClassDef) or not cls.bases or cls.name.startswith("_"):
                    continue
                name = _declared_name(cls, constants)
                if name is None:
                    continue
                target = f"{module}:{cls.name}"
                if name in found:
                    raise TypeError(f"stage name {name!r} declared twice: {found[name]} and {target}")
                found[name] = target
    return dict(sorted(found.items()))


STAGES: dict[str, str] = discover()


def stage_class(name: str) -> type[Stage]:
    try:
        target = STAGES[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known stages: {', '.join(sorted(STAGES))}") from None
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if cls.name != name:
        raise TypeError(f"{target} declares name {cls.name!r}, registered as {name!r}")
    return cls
