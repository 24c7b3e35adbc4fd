"""The pages read top to bottom: the chat page in at most 200 lines, each function of a
page script given what it uses (never reading a variable the script sets), and what the
pages keep in ``st.session_state`` named in one module, ``pages/state.py``.  Read from
the source: these are properties of the code; the page tests cover what users see."""

import ast
import inspect
import symtable

from shared import ROOT

from pages import state

PAGES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
# The files Streamlit runs top to bottom on each page run (app.py's navigation).
SCRIPTS = [
    ROOT / "app.py",
    *(ROOT / "pages" / name for name in ("chat.py", "Summarize_a_PDF.py", "usage.py")),
]
STATE = ROOT / "pages" / "state.py"
EXPRESSIONS = {"lambda", "listcomp", "setcomp", "dictcomp", "genexpr"}  # functions to symtable


def session_state_keys(tree: ast.AST) -> list[ast.expr]:
    """The key of each ``st.session_state`` access: ``[key]``, ``.get(key)``, ``.pop(key)``,
    ``.setdefault(key)``, ``key in``; an attribute (``.notice``) as its name."""
    keys: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_session_state(node.value):
            keys.append(node.slice)
        elif isinstance(node, ast.Attribute) and _is_session_state(node.value):
            if node.attr not in ("get", "pop", "setdefault", "update"):  # a call below names the key
                keys.append(ast.copy_location(ast.Constant(node.attr), node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if _is_session_state(node.func.value) and node.func.attr in ("get", "pop", "setdefault"):
                keys.append(node.args[0])
            elif _is_session_state(node.func.value) and node.func.attr == "update":
                keys += [ast.copy_location(ast.Constant(word.arg), node) for word in node.keywords]
        elif isinstance(node, ast.Compare) and any(_is_session_state(c) for c in node.comparators):
            keys.append(node.left)
    return keys


def _is_session_state(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "session_state"


def _spelled_out(key: ast.expr) -> bool:
    """A key written as a string (``"notice"``, ``f"title-{id}"``) rather than a name."""
    return any(isinstance(node, ast.Constant | ast.JoinedStr) for node in ast.walk(key))


def test_the_chat_page_is_at_most_200_lines() -> None:
    lines = len((ROOT / "pages" / "chat.py").read_text().splitlines())
    assert lines <= 200


def test_no_page_but_pages_state_spells_out_a_session_state_key() -> None:
    assert STATE.exists()
    spelled = [
        f"{path.name}:{key.lineno}: {ast.unparse(key)}"
        for path in PAGES
        if path != STATE
        for key in session_state_keys(ast.parse(path.read_text()))
        if _spelled_out(key)
    ]
    assert spelled == []


def test_a_widget_read_from_session_state_takes_its_key_from_pages_state() -> None:
    names = vars(state).items()
    keys = {value for name, value in names if name.isupper()} | {
        make("") for name, make in names if inspect.isfunction(make)
    }  # "title-" of state.title(conversation_id)
    spelled = [
        f"{path.name}:{word.value.lineno}: {ast.unparse(word.value)}"
        for path in PAGES
        if path != STATE
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        for word in node.keywords
        if word.arg == "key" and _literal(word.value) in keys
    ]
    assert spelled == []


def _literal(key: ast.expr) -> str | None:
    """A key's string, or an f-string's text before its first value."""
    if isinstance(key, ast.JoinedStr) and key.values:
        key = key.values[0]
    return key.value if isinstance(key, ast.Constant) else None


def test_no_function_of_a_page_script_reads_a_variable_the_script_sets() -> None:
    """Functions are given what they use, so a page reads top to bottom (constants,
    in UPPER_CASE, and imports excepted)."""
    read: list[str] = []
    for path in SCRIPTS:
        source = path.read_text()
        variables = {
            node.id
            for statement in ast.parse(source).body
            if not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            for node in ast.walk(statement)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and not node.id.isupper()
        }
        for function in _functions(symtable.symtable(source, str(path), "exec")):
            for symbol in function.get_symbols():
                if symbol.is_referenced() and symbol.is_global() and symbol.get_name() in variables:
                    read.append(
                        f"{path.name}:{function.get_lineno()} {function.get_name()}: {symbol.get_name()}"
                    )
    assert read == []


def _functions(table: symtable.SymbolTable, in_def: bool = False) -> list[symtable.SymbolTable]:
    """The functions made with ``def`` and the lambdas and comprehensions inside them (one
    in the script's own lines runs where it is written)."""
    found = []
    for child in table.get_children():
        inside = in_def or (child.get_type() == "function" and child.get_name() not in EXPRESSIONS)
        found += [child] * inside + _functions(child, inside)
    return found
