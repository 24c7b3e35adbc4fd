"""A conversation as a file to download: Markdown to read, JSON to process."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict
from datetime import UTC, datetime

import regex

from chat_core.conversations.store import Conversation, Message, current_view
from chat_core.markdown import safe_markdown

TITLE_CHARACTERS = 60  # of a file's name: the rest is the date and the extension

# Letters (with their combining marks) and digits of any script: a Korean title stays
# readable.  The standard library's re has no \p{...} classes.
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+")


def file_name(conversation: Conversation, kind: str) -> str:
    """``<title>-<date>.<kind>``: the title's words joined by hyphens, so that no name holds
    a path, a quote, a control or a reserved character on any system; the date is its last
    message's (UTC), so exports of an unchanged conversation have the same name."""
    title = "-".join(_WORD.findall(unicodedata.normalize("NFKC", conversation.title)))
    stem = title[:TITLE_CHARACTERS].strip("-") or "conversation"
    return f"{stem}-{datetime.fromtimestamp(conversation.updated_at, UTC):%Y-%m-%d}.{kind}"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def to_markdown(conversation: Conversation, messages: list[Message]) -> str:
    """Read in any Markdown viewer, which fetches images as it draws them: each is a
    link here, as on the page (``safe_markdown``)."""
    lines = [
        f"# {safe_markdown(conversation.title)}",
        "",
        f"{conversation.model} · {conversation.mode} · started {_when(conversation.created_at)}",
    ]
    view = current_view(messages)
    questions = {question.key for question, _ in view}
    answers = {answer.key for _, answer in view if answer}
    for message in messages:
        who = "You" if message.role == "user" else "Assistant"
        note = "" if message.answered else " (unanswered)"
        if message.role == "user" and message.key not in questions:
            note = " (edited, see below)"
        elif message.stats.get("candidate"):  # one model's answer in a comparison (compare.py)
            note = f" ({message.stats.get('model', '?')}, compared)"
        elif message.answers in questions and message.key not in answers:
            note = " (regenerated, see below)"
        elif message.role == "assistant" and message.stats.get("stopped"):
            note = " (stopped)"
        lines += ["", f"**{who}**{note}, {_when(message.created_at)}:", "", safe_markdown(message.text)]
    return "\n".join(lines) + "\n"


def to_json(conversation: Conversation, messages: list[Message]) -> str:
    return json.dumps(
        {**asdict(conversation), "messages": [asdict(message) for message in messages]},
        ensure_ascii=False,
        indent=2,
    )
