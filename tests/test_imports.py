"""chat_core's modules import one another without a cycle, so each imports alone, first.

The graph is read from the source: every import of a chat_core module is an edge,
whether at module level, under ``TYPE_CHECKING`` or inside a function, so an import
moved into a function to dodge a cycle still shows as the cycle it dodges.  Written
with the standard library (``ast`` reads the imports, ``graphlib`` finds a cycle)
rather than grimp: the walk is a few lines, and needs no compiled dependency.
"""

from __future__ import annotations

import ast
import graphlib
import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "chat_core"


def _modules() -> dict[str, Path]:
    """Every chat_core module by its dotted name (a package by its ``__init__``)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The chat_core modules ``name`` imports anywhere in its file, each with its first line."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            # ``from package import module`` imports the module; ``from module import name``, the module.
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found[target] = min(found.get(target, node.lineno), node.lineno)
    return found


def _graph() -> dict[str, dict[str, int]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_no_module_of_chat_core_imports_itself_back() -> None:
    graph, paths, cycles = _graph(), _modules(), []
    while True:  # each cycle found is cut at one import, to find the next
        try:
            graphlib.TopologicalSorter(graph).prepare()
            break
        except graphlib.CycleError as error:
            cycle = error.args[1]  # [a, b, ..., a], each importing the one before it
            cycles.append(
                [
                    f"{paths[imported].relative_to(ROOT)}:{graph[imported][importer]} imports {importer}"
                    for importer, imported in itertools.pairwise(cycle)
                ][::-1]
            )
            del graph[cycle[1]][cycle[0]]
    assert not cycles, "import cycles:\n" + "\n\n".join("\n".join(cycle) for cycle in cycles)


def test_the_model_path_does_not_import_the_bundled_models() -> None:
    """``chat_core.local`` serves the model path's payload formats (it imports
    ``chat_core.models``); the model path reaches it through what it registered."""
    graph = _graph()
    imports = sorted(
        f"{importer} imports {imported}"
        for importer, imported_ in graph.items()
        if importer.startswith("chat_core.models")
        for imported in imported_
        if imported.startswith("chat_core.local")
    )
    assert not imports, "\n".join(imports)


def test_each_module_imports_alone_in_a_fresh_interpreter() -> None:
    """One interpreter per module, each importing it first: a cycle the graph above
    missed (an import by name) would fail here in the order that breaks it.
    Forked from one interpreter that imported only what chat_core needs from outside
    it, so that each child costs milliseconds, not the seconds of LangChain's import."""
    script = """
import importlib, os, sys, traceback
for name in sys.argv[2:]:
    importlib.import_module(name)
failed = []
for name in sys.argv[1].split(","):
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    if os.waitpid(pid, 0)[1] != 0:
        failed.append(name)
print(",".join(failed))
"""
    modules = sorted(_modules())
    outside = sorted(
        {
            line.split()[1].split(".")[0]
            for path in _modules().values()
            for line in path.read_text().splitlines()
            if line.startswith(("import ", "from ")) and not line.split()[1].startswith(("chat_core", "."))
        }
        - {"__future__"}
    )
    run = subprocess.run(
        [sys.executable, "-c", script, ",".join(modules), *outside],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "", run.stderr
