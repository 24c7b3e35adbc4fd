"""One usage record per generated answer, written with the answer.

Usage is written as its own record, in the same store and the same write (one
SQLite transaction, one DynamoDB transaction) as the answer it counts, rather
than read back from the answers: users delete conversations, and the figures a
team is billed by must not vanish with them.  A record holds counts and names
only (who, when, which model and endpoint, tokens, seconds), never text, so
keeping it after the conversation is deleted keeps nothing the user wrote.

What counts: every answer the model generated, stopped ones and each candidate
of a comparison included (each took endpoint time).  Not counted: an answer
that failed (nothing is saved), an answer saved without stats (a PDF's summary
opening a conversation), and the answer chosen in a comparison (its text is a
candidate's, already counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    owner: str
    key: str  # the answer's message key: unique, and sorting by it sorts by time
    at: float  # when the answer was saved, seconds since the epoch
    model: str  # catalog id
    endpoint: str
    input_tokens: int
    output_tokens: int
    seconds: float  # from sending the question to the answer's end: endpoint time
    component: str | None = None  # the inference component, on an endpoint that hosts several
    candidate: bool = False  # one of a comparison's answers


def usage_of(owner: str, key: str, at: float, stats: dict[str, Any]) -> Usage | None:
    """The usage record of an answer saved with ``stats`` (its record, see
    ``exchange.answered_with``), or None when it is not counted (above)."""
    if "tokens" not in stats or "model" not in stats or "comparison" in stats:
        return None
    return Usage(
        owner=owner,
        key=key,
        at=at,
        model=stats["model"],
        endpoint=stats.get("endpoint", ""),
        input_tokens=int(stats.get("input_tokens", 0)),
        output_tokens=int(stats["tokens"]),
        seconds=float(stats.get("seconds", 0.0)),
        component=stats.get("component"),
        candidate=bool(stats.get("candidate", False)),
    )
