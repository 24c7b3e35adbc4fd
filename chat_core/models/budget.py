"""The context budget: counting prompt tokens and fitting history into a model's window.

The prompt may hold ``context_window - max_new_tokens`` tokens.  The system
prompt and the new question are always in it; past turns are added newest
first, whole, while they fit.  A prompt is counted by its parts: the head with
the system prompt, each turn, the tail with the question.  The first two are
cached (``head_tokens``, and each turn's count, ``history_tokens``), so a question
costs one count of its own text, however long the conversation is.  For the local model the parts meet
at ChatML's special tokens, which llama.cpp tokenizes apart, so the sum is the
exact count of the whole prompt (and a text is counted by its pieces between
those tokens, each once: ``count_tokens``); for estimates the sum only rounds up.

The local model's own tokenizer counts exactly.  Remote endpoints' tokenizers
are not available offline, so their count is an estimate built to be an upper
bound: Llama 2's and Falcon's tokenizers fall back to one token per UTF-8 byte
for characters outside their vocabulary (most Hangul syllables, for Llama 2),
so a non-ASCII character is charged its byte count; ASCII letters are charged
as if a token held only two of them (German text takes SmolLM2 one token per
2.1 letters), and digits and symbols one each.  Measured with SmolLM2's
tokenizer on tests/pdfs: Korean 1.86 tokens per character (one per UTF-8
byte, 3 per Hangul syllable), English 0.23, German with maths 0.51; the
estimate is at or above every one of them and about 2x over for English.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence

from chat_core.errors import PromptTooLong
from chat_core.models.bundled import bundled
from chat_core.models.catalog import GenerationParams, ModelSpec
from chat_core.models.prompts import PromptFormat, Turn, TurnCache


class MessageTooLong(PromptTooLong):
    en = (
        "This message needs about {needed} tokens with the system prompt, but {model} has room for "
        "{limit} ({window} in its context window, {reserve} kept for the answer). Shorten the message "
        "or the system prompt, or lower max_new_tokens."
    )
    ko = (
        "이 메시지는 시스템 프롬프트와 함께 약 {needed}토큰이 필요하지만 {model}에는 {limit}토큰의 자리가 "
        "있습니다(컨텍스트 창 {window}, 답변용 {reserve}). 메시지나 시스템 프롬프트를 줄이거나 "
        "max_new_tokens를 낮추세요."
    )


def estimate_tokens(text: str) -> int:
    letters = spaces = other = 0
    for char in text:
        if char.isascii():
            if char.isalpha():
                letters += 1
            elif char == " ":
                spaces += 1
            else:
                other += 1
        else:
            other += len(char.encode("utf-8"))
    return -(-letters // 2) + -(-spaces // 4) + other


def count_tokens(spec: ModelSpec, text: str) -> int:
    if not spec.is_local:
        return estimate_tokens(text)
    return sum(map(_piece_tokens, _at_specials(spec.prompt_format).split(text)))


@functools.cache
def _at_specials(fmt: PromptFormat) -> re.Pattern[str]:
    """Splits a text at the layout's special tokens, keeping them as pieces of their own."""
    tokens = "|".join(map(re.escape, fmt.specials))
    return re.compile(f"({tokens})" if tokens else "(?!)")


# llama.cpp tokenizes the text between special tokens piece by piece, at about 20 us a
# piece whatever its length, plus 0.2 us a character; the special tokens, the layout's
# own "\n" between them and a question's piece ("user\n" and the question: counted in the
# prompt without history, then again in its turn) recur from prompt to prompt, so each
# piece is counted once.  Longer pieces cost mostly by their length, and are not kept.
PIECE_CACHED_CHARS = 2048


def _piece_tokens(piece: str) -> int:
    if len(piece) > PIECE_CACHED_CHARS:
        return bundled().count_tokens(piece)
    return _cached_piece_tokens(piece)


@functools.lru_cache(maxsize=4096)
def _cached_piece_tokens(piece: str) -> int:
    return bundled().count_tokens(piece)


def history_tokens(spec: ModelSpec, turns: Iterable[Turn]) -> int:
    return sum(map(_turn_counter(spec), turns))


_TURN_TOKENS: TurnCache[ModelSpec, int] = TurnCache(
    lambda spec, turn: count_tokens(spec, spec.prompt_format.render_turn(turn))
)


def _turn_counter(spec: ModelSpec) -> Callable[[Turn], int]:
    """A turn's tokens, cached: counted once however many later prompts include it.
    Models of one layout count alike, exactly (the bundled tokenizer) or by estimate."""
    return _TURN_TOKENS.of(spec, f"{spec.prompt_format.name} {'exact' if spec.is_local else 'estimate'}")


@functools.lru_cache(maxsize=256)
def head_tokens(spec: ModelSpec, system: str) -> int:
    return count_tokens(spec, spec.prompt_format.render_head(system))


def prompt_tokens(spec: ModelSpec, system: str, question: str) -> int:
    """Tokens of the prompt for ``question`` with no history."""
    return head_tokens(spec, system) + count_tokens(spec, spec.prompt_format.render_tail(question))


def history_budget(spec: ModelSpec, params: GenerationParams, system: str, question: str) -> int:
    """Tokens left for past turns once the system prompt, the question and the
    answer's reserve are accounted for; raises ``PromptTooLong`` when none are."""
    limit = spec.context_window - params.max_new_tokens
    needed = prompt_tokens(spec, system, question)
    if needed > limit:
        raise MessageTooLong(
            needed=needed,
            model=spec.label,
            limit=limit,
            window=spec.context_window,
            reserve=params.max_new_tokens,
        )
    return limit - needed


def newest_fitting(spec: ModelSpec, turns: Sequence[Turn], budget: int) -> int:
    """How many of the newest ``turns`` fit, whole, into ``budget`` tokens."""
    return sum(1 for _ in _newest_fitting(spec, turns, budget))


def fit_history(spec: ModelSpec, turns: Sequence[Turn], budget: int) -> list[Turn]:
    """The newest past turns that fit ``budget`` tokens (``history_budget``), whole, oldest first."""
    return list(_newest_fitting(spec, turns, budget))[::-1]


def _newest_fitting(spec: ModelSpec, turns: Sequence[Turn], budget: int) -> Iterator[Turn]:
    """The newest ``turns`` that fit ``budget``, newest first; the older ones are never read."""
    tokens, used = _turn_counter(spec), 0
    for turn in reversed(turns):
        used += tokens(turn)
        if used > budget:
            return
        yield turn
