"""One i18n system: an error says its English and Korean in its class, a notice in a
module-level ``Message``; a message cannot be made with one language and not the other,
nor with a field one of its templates forgot."""

import ast
import importlib
import inspect
import pkgutil
import re
import string

import pytest

import chat_core
from chat_core.errors import ChatError

HANGUL = re.compile("[\uac00-\ud7a3]")
# Every module of chat_core but the mechanism itself (i18n.py makes its texts).
MODULES = sorted(
    module.name
    for module in pkgutil.walk_packages(chat_core.__path__, "chat_core.")
    if module.name not in ("chat_core.i18n", "chat_core.__main__")
)


def _errors() -> list[type[ChatError]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        found += [
            kind
            for kind in vars(module).values()
            if inspect.isclass(kind) and issubclass(kind, ChatError) and kind.__module__ == name
        ]
    return found


def _bases(kinds: list[type[ChatError]]) -> set[type[ChatError]]:
    """Classes that only group others (``except PDFError``): never raised themselves."""
    return {kind for kind in kinds if kind.__subclasses__() and not {"en", "ko"} & set(vars(kind))}


class _Value:
    """Fills a field whatever its format (``{size:,}``, ``{seconds:g}``, ``{url!r}``)."""

    def __format__(self, spec: str) -> str:
        return "VALUE"

    def __repr__(self) -> str:
        return "VALUE"


def _fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


ERRORS = [kind for kind in _errors() if kind not in _bases(_errors())]


@pytest.mark.parametrize("kind", ERRORS, ids=lambda kind: kind.__name__)
def test_each_error_class_declares_its_english_and_korean(kind: type[ChatError]) -> None:
    assert "en" in vars(kind) and "ko" in vars(kind), f"{kind.__name__} declares no templates of its own"
    assert HANGUL.search(kind.ko) and not HANGUL.search(kind.en)
    error = kind(**{field: _Value() for field in _fields(kind.en) | _fields(kind.ko)})
    assert "VALUE" in str(error) or not _fields(kind.en)
    assert "VALUE" in error.text("ko") or not _fields(kind.ko)


def _written(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _inline_texts(name: str) -> list[str]:
    """Where ``name``'s source makes a message from texts written in the call:
    ``SomeError("...", ko="...")`` or ``Text("...", "...")``."""
    tree = ast.parse(inspect.getsource(importlib.import_module(name)))
    return [
        f"{name}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            any(keyword.arg == "ko" and _written(keyword.value) for keyword in node.keywords)
            or (isinstance(node.func, ast.Name) and node.func.id == "Text" and any(map(_written, node.args)))
        )
    ]


@pytest.mark.parametrize("name", MODULES)
def test_no_message_is_written_inline(name: str) -> None:
    assert _inline_texts(name) == []
