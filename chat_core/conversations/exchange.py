"""A question and its answer as the user sees them, and what the question was asked with.

``Exchange`` is one question with its answer and that answer's state (answered,
stopped, failed or unanswered, with the reason as text); ``Settings`` is the model,
its parameters, the conversation mode and the system prompt.  A chat session
(``session``), a comparison of models (``compare``) and an answer streaming
(``reply``) all hold these, so they live here, below all three.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from chat_core import i18n
from chat_core.conversations.store import Feedback, Message
from chat_core.errors import ChatError, explain
from chat_core.i18n import Text
from chat_core.models.catalog import GenerationParams, ModelSpec, load_catalog, served_name
from chat_core.retrieval.search import Source

MODES = ("PromptTemplate", "ConversationChain")
DEFAULT_SYSTEM = "You are a helpful assistant. Answer clearly and briefly."
# Why an answer was ended by ``reply.Reply``'s repetition guard; saved with it (``answer_record``).
REPEATING = i18n.Message(
    "This answer was stopped because it kept repeating the same words: the model was caught in "
    "a loop. Regenerate, or ask in other words.",
    "같은 말을 계속 반복해서 답변을 멈췄습니다(모델이 반복에 빠졌습니다). 다시 생성하거나 다르게 물어보세요.",
).format()


@dataclass(frozen=True)
class Settings:
    """What a question is asked with: the model, its parameters, the mode and the system prompt."""

    spec: ModelSpec
    params: GenerationParams
    mode: str = MODES[0]
    system: str = DEFAULT_SYSTEM

    def explain(self, error: BaseException) -> ChatError:
        """What the user is told of ``error``, raised asking this model."""
        return explain(error, self.spec.endpoint_name, self.spec.inference_component)


@dataclass(frozen=True)
class Stats:
    first_token_s: float  # from the question being sent to the first text arriving
    tokens: int  # the answer's
    tokens_per_s: float | None  # decoding speed after the first token; None for 1 token
    input_tokens: int = 0  # the prompt's: system prompt, history, passages and question
    seconds: float = 0.0  # from the question being sent to the answer's end: the endpoint's time

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Stats | None:
        """The stats of a saved answer's record (None for one saved without them)."""
        names = [name for name in cls.__dataclass_fields__ if name in record]
        if "tokens" not in names:
            return None
        return cls(**{"first_token_s": 0.0, "tokens_per_s": None} | {name: record[name] for name in names})


class State(StrEnum):
    ANSWERED = "answered"
    STOPPED = "stopped"  # the user stopped it: the answer is the text until then
    FAILED = "failed"  # the model or endpoint failed: ``reason`` says why
    UNANSWERED = "unanswered"  # saved, not (yet) answered: ``reason`` says why


@dataclass
class Exchange:
    question: str
    key: str | None = None  # the saved question's key
    answer: str = ""
    state: State = State.UNANSWERED
    stats: Stats | None = None
    # Why it failed or is unanswered, why its answer is not saved, where it was saved
    # instead, or why it was ended (its deadline).
    reason: Text | None = None
    saved: bool = True  # False: the answer could not be saved; ``ChatSession.save_again``
    memory_start: int = 0  # ConversationChain: answered exchanges before this left the buffer
    # Asked of documents: the passages the answer was given (none: no source matched).
    sources: list[Source] | None = None
    # Why the documents gave no passage, told when the question was asked (never
    # again against the documents attached later); None: they gave some, or none attached.
    no_source: Text | None = None
    answer_key: str | None = None  # the saved answer's key: what feedback is given to
    feedback: Feedback | None = None  # the user's on the answer (``ChatSession.rate``)
    model: str = ""  # the label of the model that wrote the answer (not the one picked since)
    picked: bool = False  # the answer was picked from a comparison (``compare``)
    # Saved instead of ``answer``, which is then this session's only (the summary of a
    # file opened with a password); None: the answer is saved.
    saved_instead: str | None = None

    @property
    def stored_answer(self) -> str:
        return self.answer if self.saved_instead is None else self.saved_instead

    @property
    def answered(self) -> bool:
        return self.state in (State.ANSWERED, State.STOPPED)

    def answer_from(self, answer: Message) -> None:
        """Take the answer, its record and its sources from a saved answer."""
        if (sources := answer.stats.get("sources")) is not None:
            self.sources = [Source(**source) for source in sources]
        if (why := answer.stats.get("no_source")) is not None:
            self.no_source = Text(**why)
        self.answer, self.stats, self.answer_key = answer.text, Stats.from_record(answer.stats), answer.key
        self.feedback, self.model = answer.feedback, model_label(answer.stats)
        self.picked = "comparison" in answer.stats
        self.state = State.STOPPED if answer.stats.get("stopped") else State.ANSWERED
        if answer.stats.get("repeating"):
            self.reason = REPEATING

    def failed(self, error: ChatError) -> ChatError:
        """Mark this exchange failed for ``error``, and return it, to raise."""
        self.state, self.reason = State.FAILED, error.message
        return error


def answer_record(exchange: Exchange, settings: Settings) -> dict[str, Any]:
    """What is saved with an answer (``Message.stats``): its ``Stats``, whether it was
    stopped (and for repeating itself), what generated it (``answered_with``), the
    passages it was given and why there were none."""
    # ``vars``, not ``asdict``: the fields are plain values, and asdict's deep copy of each
    # costs 30 us an answer (bench/turn_overhead.py).
    record = {
        **(vars(exchange.stats) if exchange.stats else {}),
        "stopped": exchange.state is State.STOPPED,
        **({"repeating": True} if exchange.reason is REPEATING else {}),
        **answered_with(settings),
    }
    if exchange.sources is not None:
        record["sources"] = [source.kept() for source in exchange.sources]
    if exchange.no_source is not None:
        record["no_source"] = asdict(exchange.no_source)
    return record


def answered_with(settings: Settings) -> dict[str, Any]:
    """What an answer's record says it was generated by: the model (its catalog id,
    endpoint and inference component) and the generation parameters."""
    spec = settings.spec
    model = {"model": spec.id, "endpoint": spec.endpoint_name, "params": dict(vars(settings.params))}
    return model | ({"component": spec.inference_component} if spec.inference_component else {})


def model_label(record: dict[str, Any]) -> str:
    """The model that wrote a saved answer, from its record (``answered_with``): its
    catalog label, else the name of the endpoint (and inference component) that answered."""
    spec = load_catalog().get(record.get("model", ""))
    if spec:
        return spec.label
    if endpoint := record.get("endpoint"):
        return served_name(endpoint, record.get("component"))
    return str(record.get("model") or "?")
