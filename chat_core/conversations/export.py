"""A conversation as a file to download: Markdown to read, JSON to process."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

from chat_core.conversations.store import Conversation, Message, current_view
from chat_core.markdown import safe_markdown


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
