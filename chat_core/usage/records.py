"""One usage record per generated answer, written with the answer, and one per
summary and per document indexed.

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

A summary (``kind="summary"``: its model calls, their tokens and seconds) and a
document's indexing (``kind="indexing"``: the embedding model's pages, passages
and seconds) are recorded on their own (``Store.record_usage``) when they finish,
so that the endpoint time they took is counted next to the answers'.  The store
gives each its key and time as it records it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from chat_core.errors import ChatError
from chat_core.models.budget import count_tokens

if TYPE_CHECKING:
    from chat_core.models.catalog import ModelSpec

# What a usage record counts, and its name on the Usage page (translated there).
KINDS = {"answer": "Answers", "summary": "Summaries", "indexing": "Indexing"}
log = logging.getLogger(__name__)


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
    kind: str = "answer"  # one of KINDS
    calls: int = 1  # model calls: a summary makes one a part
    pages: int = 0  # an indexing's pages
    passages: int = 0  # an indexing's passages


class Summary(Protocol):
    """What a summary's record is made of (``documents.summaries.Summary``, which counts
    its calls' tokens here: ``output_tokens``)."""

    text: str
    complete: bool
    calls: int
    input_tokens: int
    output_tokens: int
    seconds: float


def output_tokens(spec: ModelSpec, max_new_tokens: int, text: str) -> int:
    """The tokens a model's answer ``text`` counts as, in its usage record and under the
    user's limits alike: at most ``max_new_tokens``, the most the model may generate,
    whatever counting the text again says (for a remote model, an estimate that errs high;
    for any, a text tokenized otherwise than it was generated)."""
    return min(count_tokens(spec, text), max_new_tokens)


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


def summary_usage(owner: str, spec: ModelSpec, summary: Summary) -> Usage:
    """The usage record of a summary made by ``spec``: its calls, tokens and seconds."""
    return Usage(
        owner=owner,
        key="",  # both stamped when recorded (Store.record_usage)
        at=0.0,
        model=spec.id,
        endpoint=spec.endpoint_name,
        input_tokens=summary.input_tokens,
        output_tokens=summary.output_tokens,
        seconds=summary.seconds,
        component=spec.inference_component,
        kind="summary",
        calls=summary.calls,
    )


def indexing_usage(owner: str, model: str, endpoint: str, pages: int, passages: int, seconds: float) -> Usage:
    """The usage record of a document indexed by embedding ``model``: ``pages`` pages
    cut into ``passages`` passages in ``seconds``."""
    return Usage(
        owner=owner,
        key="",  # both stamped when recorded (Store.record_usage)
        at=0.0,
        model=model,
        endpoint=endpoint,
        input_tokens=0,
        output_tokens=0,
        seconds=seconds,
        kind="indexing",
        calls=0,
        pages=pages,
        passages=passages,
    )


def counted(record: Callable[[Usage], None], usage: Usage) -> None:
    """``record(usage)`` for a summary or an indexing, after what it counts is kept: a
    store that fails is logged for the operator (the store says why), never the user's
    loss: the summary is shown and kept, the question answered, all the same."""
    try:
        record(usage)
    except ChatError as error:
        log.warning("%s usage not recorded: %s", usage.kind, error)


def summary_ended(
    keep: Callable[[str], None], record: Callable[[Usage], None], owner: str, spec: ModelSpec
) -> Callable[[Summary], None]:
    """What a summary's thread does as it ends (``Summary.start``'s ``on_end``): record
    its usage (``counted``), and ``keep`` its text when it is complete."""

    def ended(summary: Summary) -> None:
        counted(record, summary_usage(owner, spec, summary))
        if summary.complete:
            keep(summary.text)

    return ended
