"""The suite stands alone for a newcomer: tests that need no model start without
llama-cpp-python (a C build), the files they read are in the repository, and what
tests share is in tests/shared.py, not taken from one another, and the browser tests
wait for events, never for a fixed time or without end."""

import ast
import re
import subprocess
import sys

from shared import PDFS, ROOT

# Python's own mark for a module that cannot be imported: ``import llama_cpp`` raises
# ImportError in this child, as where llama-cpp-python is not installed.
WITHOUT_LLAMA_CPP = "import sys; sys.modules['llama_cpp'] = None; import pytest; sys.exit(pytest.main())"


def test_the_tests_of_texts_and_errors_pass_without_llama_cpp() -> None:
    tests = ["tests/test_i18n.py", "tests/test_message_templates.py", "tests/test_errors.py"]
    run = subprocess.run(
        [sys.executable, "-c", WITHOUT_LLAMA_CPP, *tests, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.search(r"\b\d+ passed\b", run.stdout) and "failed" not in run.stdout


def test_the_test_pdfs_are_in_the_repository_with_their_sources_and_licences() -> None:
    """A clean clone has every PDF the tests and bench/ read, each credited in the README beside it."""
    assert PDFS.is_relative_to(ROOT)
    readme = (PDFS / "README.md").read_text()
    names = sorted(path.name for path in PDFS.glob("*.pdf"))
    assert len(names) == 7, names
    for name in names:
        row = next((line for line in readme.splitlines() if line.startswith(f"| {name} |")), "")
        assert re.search(r"\| [\w./-]+ `[^`]+`, (CC BY-SA 4\.0|Apache-2\.0) \|$", row), name


def test_no_test_module_imports_from_another() -> None:
    """Helpers two test modules use live in tests/shared.py: importing a test module
    runs its collection-time work and ties one test file's edits to another's."""
    borrowed = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            modules = [name for name in names if any(part.startswith("test_") for part in name.split("."))]
            borrowed += [f"{path.relative_to(ROOT)}: {module}" for module in modules]
    assert borrowed == []


def bounded(loop: ast.AST) -> bool:
    """A ``for`` over ``range(...)``, or a ``while`` whose condition checks a deadline."""
    if isinstance(loop, ast.For):
        return isinstance(loop.iter, ast.Call) and getattr(loop.iter.func, "id", "") == "range"
    return isinstance(loop, ast.While) and "deadline" in ast.unparse(loop.test)


def test_browser_tests_wait_for_events_not_for_time() -> None:
    """A fixed sleep before a check that nothing happened passes whenever the page is
    merely slow, and a poll without a deadline hangs the suite instead of failing."""
    found = []
    for path in [*sorted((ROOT / "tests" / "e2e").glob("*.py")), ROOT / "tests" / "shared.py"]:
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.While) and not bounded(node):
                found.append(f"{where}: a poll without a deadline")
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "time.sleep":
                loop = node
                while loop in parents and not isinstance(loop, ast.For | ast.While):
                    loop = parents[loop]
                if not bounded(loop):
                    found.append(f"{where}: a sleep outside a bounded poll")
    assert found == []
