"""What users taught us, as data to evaluate or fine-tune with: JSON Lines of the
answers they rated, and of their comparisons as preference pairs.

Both give the conversation an answer was generated for in the role/content shape
chat models and Hugging Face's TRL take: the exchanges before the question (as
the conversation read then: edited questions and replaced answers left out),
then the question.  Preference pairs are TRL's conversational preference
format (``prompt``, ``chosen``, ``rejected``, the last two as one assistant
message each), so they load as a ``DPOTrainer`` data set as they are.  What the
app added to a prompt (system prompt, passages of attached documents) is not
kept with the answer, so it is not in the export either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from chat_core.conversations.store import ConversationNotFound, Message, Store, current_view


def rated(store: Store, owner: str, since: float = 0.0) -> list[dict[str, Any]]:
    """One record per answer of ``owner``'s that is rated up or down (a comment alone
    is no rating), rated at ``since`` or later, oldest rating first."""
    records = []
    for conversation_id, messages in _conversations(store, owner):
        questions = {m.key: m for m in messages if m.role == "user"}
        for answer in messages:
            feedback = answer.feedback
            if not (feedback and feedback.rating and feedback.at >= since and answer.answers in questions):
                continue
            records.append(
                {
                    "messages": _prompt(messages, questions[answer.answers]),
                    "answer": answer.text,
                    "rating": feedback.rating,
                    "comment": feedback.comment,
                    "model": answer.stats.get("model"),
                    "parameters": answer.stats.get("params"),
                    "conversation_id": conversation_id,
                    "rated_at": _iso(feedback.at),
                }
            )
    return sorted(records, key=lambda record: record["rated_at"])


def preference_pairs(store: Store, owner: str, since: float = 0.0) -> list[dict[str, Any]]:
    """One pair per candidate answer ``owner`` did not choose in a comparison made at
    ``since`` or later, oldest choice first: the chosen answer against it."""
    pairs = []
    for conversation_id, messages in _conversations(store, owner):
        by_key = {m.key: m for m in messages}
        for choice in messages:
            comparison = choice.stats.get("comparison")
            if not comparison or choice.created_at < since or choice.answers not in by_key:
                continue
            prompt = _prompt(messages, by_key[choice.answers])
            for rejected in (by_key[key] for key in comparison["rejected"] if key in by_key):
                pairs.append(
                    {
                        "prompt": prompt,
                        "chosen": [_message("assistant", choice.text)],
                        "rejected": [_message("assistant", rejected.text)],
                        "chosen_model": choice.stats.get("model"),
                        "rejected_model": rejected.stats.get("model"),
                        "conversation_id": conversation_id,
                        "chosen_at": _iso(choice.created_at),
                    }
                )
    return sorted(pairs, key=lambda pair: pair["chosen_at"])


def to_jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def _conversations(store: Store, owner: str) -> Iterator[tuple[str, list[Message]]]:
    """Each of the owner's conversations with its messages."""
    for conversation in store.conversations(owner):
        try:
            yield conversation.id, store.messages(owner, conversation.id)
        except ConversationNotFound:  # deleted meanwhile, in another tab
            continue


def _prompt(messages: list[Message], question: Message) -> list[dict[str, str]]:
    """The conversation as it read when ``question`` was asked: its answered
    exchanges, then the question.  Candidate answers of a comparison are not
    part of it; the answer chosen among them is."""
    asked_by_then = [m for m in messages if m.key <= question.key and not m.stats.get("candidate")]
    history = []
    for asked, answer in current_view(asked_by_then):
        if answer is not None:
            history += [_message("user", asked.text), _message("assistant", answer.text)]
    return [*history, _message("user", question.text)]


def _message(role: str, text: str) -> dict[str, str]:
    return {"role": role, "content": text}


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
