"""Where conversations are kept: one small interface, two backends.

``CHAT_STORE`` chooses: ``sqlite:///path/to/chat.db`` (the default, one machine;
all after ``sqlite://`` is the file's path)
or ``dynamodb://TABLE`` (several app replicas).  Every call names the owner, and
a conversation of another owner is indistinguishable from one that does not
exist, so one user can never read or change another's.

A question is saved when it is sent; its answer is saved when complete (or
stopped), in one write that names the question it answers.  Nothing is ever
rewritten: a regenerated answer is a newer answer to the same question, an
edited question a newer question that names the one it replaces.  A question no answer names is
unanswered: an app that dies mid-answer leaves the question, unanswered, and
never half a pair.

The one thing ever changed in place is the user's feedback on an answer (a
thumbs up or down, a comment, when): an annotation of the log, not part of it,
which the user may change their mind about, so a new rating replaces the last
rather than adding to it (``set_feedback``).  It never changes a conversation's
``updated_at``: rating an old answer does not bring its conversation to the top.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from chat_core.errors import ChatError
from chat_core.i18n import Text
from chat_core.usage.records import Usage

DATA_DIR = Path(os.environ.get("CHAT_DATA_DIR", Path.home() / ".local" / "share" / "sagemaker-chat"))
LOCAL_USER = "local"
TITLE_LENGTH = 60
# The longest comment on an answer: a few paragraphs (the page's box stops there too).
COMMENT_MAX_CHARS = 2000
_SURROGATE = re.compile("[\ud800-\udfff]")


class StoreUnavailable(ChatError):
    """The store's backend failed (cannot be opened, read or written): what every
    backend error becomes, said in words that name no account, ARN or URL.  Each
    failure is a subclass: what could not be done, ``where`` (the backend's) and the
    ``hint`` why and what to do (the backend's ``hint(error)``)."""


class CannotOpenStore(StoreUnavailable):
    en = "Cannot open the conversation store {where}: {hint}."
    ko = "대화 저장소를 열 수 없습니다({where}): {hint}."


class CannotReadStore(StoreUnavailable):
    en = "Could not read the conversation store {where}: {hint}."
    ko = "대화 저장소를 읽지 못했습니다({where}): {hint}."


class CannotSaveToStore(StoreUnavailable):
    en = "Could not save to the conversation store {where}: {hint}."
    ko = "대화 저장소에 저장하지 못했습니다({where}): {hint}."


class ConversationNotFound(ChatError):
    # Without the id: it may come from a link, and pages render messages as Markdown.
    en = "That conversation is not one of yours, or it was deleted."
    ko = "내 대화가 아니거나 삭제된 대화입니다."


class CommentTooLong(ChatError):
    en = (
        "This comment is {length:,} characters long; the most a comment may have is {limit:,}. "
        "Shorten it and save it again."
    )
    ko = "이 댓글은 {length:,}자입니다. 댓글은 최대 {limit:,}자까지 쓸 수 있습니다. 줄인 뒤 다시 저장하세요."


class UnstorableText(ChatError):
    """A text holding half of a character (a lone UTF-16 surrogate, which the browser
    never sends but a program may): no store's encoding can hold it."""

    en = (
        "This text cannot be saved: character {at:,} is {code}, half of a character whose other "
        "half is missing. Remove it (or copy the text again from where it came from) and retry."
    )
    ko = (
        "이 글은 저장할 수 없습니다. {at:,}번째 문자 {code}는 나머지 반쪽이 없는 문자의 절반입니다. "
        "그 문자를 지우거나 원래 글에서 다시 복사한 뒤 다시 시도하세요."
    )


def storable(text: str) -> str:
    """``text``, checked before any store writes it: every text a user gives passes here."""
    if found := _SURROGATE.search(text):
        raise UnstorableText(at=found.start() + 1, code=f"U+{ord(found.group()):04X}")
    return text


@dataclass(frozen=True)
class Conversation:
    id: str
    owner: str
    title: str
    model: str
    mode: str
    created_at: float
    updated_at: float


RATINGS = ("up", "down")


@dataclass(frozen=True)
class Feedback:
    """The user's feedback on an answer, as last given."""

    rating: str | None  # "up", "down", or None: taken back, or a comment alone
    comment: str = ""
    at: float = 0.0  # when it was given


@dataclass(frozen=True)
class Message:
    key: str  # unique in its conversation; sorting keys gives the order written
    role: str  # "user" or "assistant"
    text: str
    created_at: float
    answers: str | None = None  # an answer: the key of its question
    # An answer's record (exchange.answer_record), with "candidate": true for one model's
    # answer in a comparison and "comparison" for the answer picked from one (compare.py);
    # a question's {"replaces": key} when it edits that question.
    stats: dict[str, Any] = field(default_factory=dict)
    answered: bool = True  # a question: whether an answer names it
    feedback: Feedback | None = None  # an answer's, once the user gave some


def in_order(messages: list[Message]) -> list[Message]:
    """Messages sorted by key, each question marked answered or not."""
    messages = sorted(messages, key=lambda m: m.key)
    answered = {m.answers for m in messages if m.answers}
    return [replace(m, answered=m.role != "user" or m.key in answered) for m in messages]


def current_view(messages: list[Message]) -> list[tuple[Message, Message | None]]:
    """The conversation as it reads now: each question that no edit replaced, in
    order, with its latest answer (None while unanswered).  The session opens
    this and the exports mark whatever is not in it.  A comparison's candidate
    answers are not the question's answer: the one the user picked is, saved again."""
    edited = {m.stats.get("replaces") for m in messages if m.role == "user"}
    # In key order: the last one wins.
    latest = {m.answers: m for m in messages if m.answers and not m.stats.get("candidate")}
    return [(m, latest.get(m.key)) for m in messages if m.role == "user" and m.key not in edited]


def undecided(messages: list[Message], question: Message, answer: Message | None) -> list[Message]:
    """The candidate answers to ``question`` that wait for the user to pick one:
    those of a comparison newer than its ``answer`` (``current_view``'s), in order."""
    return [
        m
        for m in messages
        if m.answers == question.key and m.stats.get("candidate") and (answer is None or m.key > answer.key)
    ]


@dataclass(frozen=True)
class Charge:
    """What admitting a model call adds to one of the user's limit counters
    (``usage.limits``): ``amount``, admitted only while the counter is below ``below``."""

    counter: str
    amount: int
    below: int
    # When the counter may go: its window's end, plus the longest a reservation lives.
    until: float


@dataclass(frozen=True)
class Hold:
    """A reservation of ``charges``, kept until settled or until ``expires``."""

    key: str
    charges: tuple[Charge, ...]
    expires: float  # seconds since the epoch


class Store(Protocol):
    def create(self, owner: str, title: str, model: str, mode: str) -> Conversation:
        """A new conversation, titled ``title_for(title)``."""
        ...

    def conversations(self, owner: str) -> list[Conversation]:
        """The owner's conversations, most recently updated first."""
        ...

    def get(self, owner: str, conversation_id: str) -> Conversation: ...

    def messages(self, owner: str, conversation_id: str) -> list[Message]: ...

    def add_question(
        self,
        owner: str,
        conversation_id: str,
        text: str,
        replaces: str | None = None,
        documents: list[dict[str, str]] | None = None,
    ) -> str:
        """Save a question, unanswered (an edit of question ``replaces``; asked of
        ``documents``, as ``retrieval.library.Attached`` fields); returns its key."""
        ...

    def add_answer(
        self, owner: str, conversation_id: str, question_key: str, text: str, stats: dict[str, Any]
    ) -> str:
        """Save the answer to question ``question_key``."""
        ...

    def set_feedback(
        self, owner: str, conversation_id: str, answer_key: str, rating: str | None, comment: str = ""
    ) -> Feedback | None:
        """Give answer ``answer_key`` the user's feedback, replacing any given before
        (``rating`` None and no comment takes it back); returns it as stored.
        ``ConversationNotFound`` when the key is not an answer in the owner's conversation."""
        ...

    def rename(self, owner: str, conversation_id: str, title: str) -> None: ...

    def delete(self, owner: str, conversation_id: str) -> None: ...

    def delete_all(self, owner: str) -> None: ...

    def preferences(self, owner: str) -> dict[str, Any]:
        """The owner's preferences as last saved (``set_preferences``); {} before any."""
        ...

    def set_preferences(self, owner: str, preferences: dict[str, Any]) -> None:
        """Replace the owner's preferences: what the pages keep for the user from one
        session to the next (the chat's settings, notices seen), a JSON object."""
        ...

    def usage(self, since: float, until: float, owner: str | None) -> list[Usage]:
        """The usage records (``usage.records``) saved from ``since`` to ``until`` (seconds
        since the epoch), the owner's or, with None, everyone's.  Deleting conversations
        keeps them.  Who may see whose is ``usage.report``'s to decide."""
        ...

    def record_usage(self, usage: Usage) -> None:
        """Record the usage of a summary or an indexing (``usage.records``), under a new
        key and the time now."""
        ...

    def reserve(self, owner: str, hold: Hold) -> str | None:
        """In one atomic step: give back the owner's expired holds (and drop counters past
        their ``until``, where the backend can), then, if each of
        ``hold``'s counters is below its charge's ``below``, add every charge and keep
        ``hold``; returns None, or the counter that refused it (nothing changed)."""
        ...

    def settle(self, owner: str, hold: Hold, used: dict[str, int]) -> None:
        """End ``hold``: each counter in ``used`` keeps that amount instead of its
        charge's; the others keep their charge.  A hold already given back (it expired)
        adds ``used`` alone."""
        ...

    def counters(self, owner: str, names: list[str]) -> dict[str, int]:
        """The owner's limit counters ``names`` (reservations included); absent ones are 0."""
        ...

    def mark_call(self, endpoint: str, component: str | None, at: float) -> None:
        """Note that a model call was sent at ``at`` to ``endpoint``'s ``component`` (None:
        its own model); the latest mark of each model is kept (``models.scaling``)."""
        ...

    def last_calls(self) -> dict[tuple[str, str | None], float]:
        """The latest mark of each model, by (endpoint, component)."""
        ...


BackendT = TypeVar("BackendT", bound=type)
# The methods every store has (Store's), each of which a page may call.
_STORE_METHODS = tuple(name for name in vars(Store) if not name.startswith("_"))
log = logging.getLogger(__name__)


def backend_errors(*errors: type[Exception]) -> Callable[[BackendT], BackendT]:
    """Make a backend class raise ``StoreUnavailable`` for any of ``errors``, from its
    constructor and each ``Store`` method: the one place where its exceptions become
    a message, so none reaches a page as a traceback.  The message says what could
    not be done, to which store (the backend's ``where``), why and what to do (its
    ``hint(error)``); the error itself is logged for the operator."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def translated(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except errors as error:
                log.warning("%s.%s failed: %r", type(self).__name__, method.__name__, error)
                raise _unavailable(method.__name__, self.where, self.hint(error)) from error

        return translated

    def decorate(backend: BackendT) -> BackendT:
        for name in ("__init__", *_STORE_METHODS):
            setattr(backend, name, wrap(getattr(backend, name)))
        return backend

    return decorate


def _unavailable(method: str, where: Text, hint: Text) -> StoreUnavailable:
    if method == "__init__":
        return CannotOpenStore(where=where, hint=hint)
    if method in ("conversations", "get", "messages", "preferences", "usage", "counters"):
        return CannotReadStore(where=where, hint=hint)
    return CannotSaveToStore(where=where, hint=hint)


class AppendOnlyMessages:
    """Questions and answers in terms of one append, which each backend writes
    after checking that the conversation is the owner's."""

    def _append(self, owner: str, conversation_id: str, role: str, text: str, **extra: Any) -> str:
        raise NotImplementedError

    def add_question(
        self,
        owner: str,
        conversation_id: str,
        text: str,
        replaces: str | None = None,
        documents: list[dict[str, str]] | None = None,
    ) -> str:
        stats: dict[str, Any] = {"replaces": replaces} if replaces else {}
        if documents:
            stats["documents"] = documents
        return self._append(owner, conversation_id, "user", storable(text), stats=stats)

    def add_answer(
        self, owner: str, conversation_id: str, question_key: str, text: str, stats: dict[str, Any]
    ) -> str:
        return self._append(
            owner, conversation_id, "assistant", storable(text), answers=question_key, stats=stats
        )

    def _record(self, usage: Usage) -> None:
        raise NotImplementedError

    def record_usage(self, usage: Usage) -> None:
        self._record(replace(usage, key=next_key(), at=now()))

    def _annotate(self, owner: str, conversation_id: str, answer_key: str, feedback: Feedback | None) -> None:
        """Replace the answer's feedback, after checking that it is an answer in the
        owner's conversation (else ``not_found()``)."""
        raise NotImplementedError

    def set_feedback(
        self, owner: str, conversation_id: str, answer_key: str, rating: str | None, comment: str = ""
    ) -> Feedback | None:
        if rating is not None and rating not in RATINGS:
            raise ValueError(f"a rating is one of {RATINGS} or None, not {rating!r}")
        comment = storable(comment.strip())
        if len(comment) > COMMENT_MAX_CHARS:
            raise CommentTooLong(length=len(comment), limit=COMMENT_MAX_CHARS)
        feedback = Feedback(rating, comment, now()) if rating or comment else None
        self._annotate(owner, conversation_id, answer_key, feedback)
        return feedback


def title_for(question: str) -> str:
    """A conversation's title: the text on one line, at most ``TITLE_LENGTH`` characters.
    Every title stored goes through it, given or made from the first question."""
    line = " ".join(storable(question).split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def now() -> float:
    return time.time()


_last_key = 0
_key_lock = threading.Lock()


def next_key() -> str:
    """A message key: nanoseconds since the epoch, made to grow strictly within
    this process however fast it is called, and a random suffix against equal
    times in other processes."""
    global _last_key
    with _key_lock:
        _last_key = max(time.time_ns(), _last_key + 1)
        return f"{_last_key:020d}-{secrets.token_hex(4)}"


def not_found() -> ConversationNotFound:
    return ConversationNotFound()
